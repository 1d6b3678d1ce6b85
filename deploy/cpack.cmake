# The Debian package, built with `cpack -G DEB` in a build tree.
#
# Included from the top-level CMakeLists.txt after add_subdirectory(deploy),
# which writes the conffiles list this refers to. Everything is installed
# under /usr except the unit (ICS_SYSTEMD_UNITDIR), the sysusers.d entry
# (ICS_SYSUSERSDIR) and /etc/icsd/icsd.conf.example. The licence is MIT
# (LICENSE; debian/copyright says the same to dpkg and lintian).

# Whoever publishes the package names themselves here, as dch(1) does:
# DEBFULLNAME and DEBEMAIL, or -DICS_PACKAGE_MAINTAINER="Name <address>".
# (A build tree configured before this default changed keeps no address
# lintian rejects.)
if(ICS_PACKAGE_MAINTAINER STREQUAL "icsd maintainers <icsd@invalid>")
  unset(ICS_PACKAGE_MAINTAINER CACHE)
endif()
if(DEFINED ENV{DEBEMAIL} AND DEFINED ENV{DEBFULLNAME})
  set(ics_maintainer "$ENV{DEBFULLNAME} <$ENV{DEBEMAIL}>")
else()
  set(ics_maintainer "icsd contributors <icsd@example.org>")
endif()
set(ICS_PACKAGE_MAINTAINER "${ics_maintainer}" CACHE STRING
    "Maintainer field of the Debian package and its changelog")

# Debian's hardening flags, as debhelper passes them: dpkg-buildflags with
# hardening=+all gives fortified functions (-D_FORTIFY_SOURCE=2), the
# stack protector, -z relro -z now, and PIE (the compiler's default on
# Debian). cpack does not run dpkg-buildflags, so an optimised build (the
# default, RelWithDebInfo) on a system that has it applies them to every
# target; the package cpack makes from that build is hardened. Debug and
# sanitizer builds keep their own flags.
find_program(ICS_DPKG_BUILDFLAGS dpkg-buildflags)
set(ics_harden_default OFF)
if(ICS_DPKG_BUILDFLAGS AND NOT ICS_SANITIZE AND NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
  set(ics_harden_default ON)
endif()
option(ICS_HARDEN "Build with dpkg-buildflags' hardening flags (for packages)"
       ${ics_harden_default})

function(ics_dpkg_buildflag var name)
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env DEB_BUILD_MAINT_OPTIONS=hardening=+all
            ${ICS_DPKG_BUILDFLAGS} --get ${name}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    OUTPUT_VARIABLE out OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "dpkg-buildflags --get ${name} failed; configure with -DICS_HARDEN=OFF")
  endif()
  separate_arguments(out UNIX_COMMAND "${out}")
  set(${var} ${out} PARENT_SCOPE)
endfunction()

function(ics_targets_under var dir)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub ${subdirs})
    ics_targets_under(more ${sub})
    list(APPEND targets ${more})
  endforeach()
  set(${var} ${targets} PARENT_SCOPE)
endfunction()

if(ICS_HARDEN)
  if(NOT ICS_DPKG_BUILDFLAGS)
    message(FATAL_ERROR "ICS_HARDEN needs dpkg-buildflags (package dpkg-dev)")
  endif()
  ics_dpkg_buildflag(ics_cflags CFLAGS)
  ics_dpkg_buildflag(ics_cppflags CPPFLAGS)
  ics_dpkg_buildflag(ics_ldflags LDFLAGS)
  ics_targets_under(ics_targets ${PROJECT_SOURCE_DIR})
  foreach(t ${ics_targets})
    get_target_property(type ${t} TYPE)
    if(type MATCHES "^(EXECUTABLE|STATIC_LIBRARY|SHARED_LIBRARY|OBJECT_LIBRARY)$")
      target_compile_options(${t} PRIVATE ${ics_cflags} ${ics_cppflags})
    endif()
    if(type MATCHES "^(EXECUTABLE|SHARED_LIBRARY)$")
      target_link_options(${t} PRIVATE ${ics_ldflags})
    endif()
  endforeach()
  message(STATUS "Hardening: ${ics_cppflags} ${ics_cflags} ${ics_ldflags}")
else()
  message(STATUS "Hardening: off (a package built from this tree is not hardened)")
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME icsd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${ICS_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "coordination daemon for integrated care system partners")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_PACKAGE_NAME icsd)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${ICS_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies come from dpkg-shlibdeps (dpkg-dev); postinst falls
# back to adduser where systemd-sysusers is missing; the unit's ExecReload=
# runs /bin/kill (procps).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, procps")
# The synopsis is CPACK_PACKAGE_DESCRIPTION_SUMMARY; cpack indents these
# lines and turns the empty one into the " ." paragraph break.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"icsd is the node that each partner organisation of an English integrated
care system (ICS) runs: the integrated care board, NHS trusts, local
authorities, the ambulance service and others. Nodes exchange signed
messages over CURVE-encrypted ZeroMQ and keep a replicated, tamper-evident
log (raft) of joint forward plan drafting, consultation rounds and mutual
aid.

This package provides the daemon icsd, the command-line client icsctl, a
hardened systemd unit and the icsd system user. The node starts once
/etc/icsd/icsd.conf exists; see icsd(8).")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_LIST_DIR}/debian/postinst
    ${CMAKE_CURRENT_LIST_DIR}/debian/prerm
    ${CMAKE_CURRENT_LIST_DIR}/debian/postrm
    ${PROJECT_BINARY_DIR}/deploy/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

# /usr/share/doc/icsd: the licence (LICENSE, in Debian's machine-readable
# form) and the Debian changelog, whose newest entry names this version.
set(ICS_DEB_VERSION "${PROJECT_VERSION}-${CPACK_DEBIAN_PACKAGE_RELEASE}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/debian/changelog.in
               ${PROJECT_BINARY_DIR}/deploy/debian/changelog.Debian @ONLY)
if(NOT ICS_GZIP)
  message(FATAL_ERROR "gzip is needed for the Debian changelog")
endif()
add_custom_command(
  OUTPUT ${PROJECT_BINARY_DIR}/deploy/debian/changelog.Debian.gz
  COMMAND ${ICS_GZIP} -9 -n -k -f ${PROJECT_BINARY_DIR}/deploy/debian/changelog.Debian
  DEPENDS ${PROJECT_BINARY_DIR}/deploy/debian/changelog.Debian
  COMMENT "Compressing the Debian changelog"
  VERBATIM)
add_custom_target(icsd_changelog ALL
                  DEPENDS ${PROJECT_BINARY_DIR}/deploy/debian/changelog.Debian.gz)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/debian/copyright
              ${PROJECT_BINARY_DIR}/deploy/debian/changelog.Debian.gz
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${CMAKE_CURRENT_LIST_DIR}/debian/lintian-overrides
        DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides RENAME icsd)

include(CPack)
