# The Debian package, built with `cpack -G DEB` in a build tree.
#
# Included from the top-level CMakeLists.txt after add_subdirectory(deploy),
# which writes the conffiles list this refers to. Everything is installed
# under /usr except the unit (ICS_SYSTEMD_UNITDIR), the sysusers.d entry
# (ICS_SYSUSERSDIR) and /etc/icsd/icsd.conf.example.

set(ICS_PACKAGE_MAINTAINER "icsd maintainers <icsd@invalid>" CACHE STRING
    "Maintainer field of the Debian package")

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
# back to adduser where systemd-sysusers is missing.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
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

include(CPack)
