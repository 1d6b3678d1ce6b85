# The state machine computes a function of the log's entries alone: every
# node must reach the same state. This check, run after each build of the
# ics_fsm library, fails the build if any of its objects calls what would
# make it depend on something else: a clock, randomness, the environment,
# files or sockets, ZeroMQ, or the node's own clock helpers.
#   cmake -DNM=nm -DLIB=libics_fsm.a -P purity.cmake
execute_process(COMMAND ${NM} -u ${LIB} OUTPUT_VARIABLE undefined RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "purity check: cannot list the symbols of ${LIB}")
endif()
set(forbidden
  "time" "clock" "clock_gettime" "gettimeofday" "timespec_get" "ftime"
  "rand" "rand_r" "random" "srand" "srandom" "drand48" "lrand48" "getrandom" "getentropy"
  "arc4random" "arc4random_buf" "randombytes_buf" "randombytes_random" "randombytes_uniform"
  "getenv" "secure_getenv" "fopen" "fopen64" "open" "open64" "openat" "socket" "connect"
  "ics_now_ms" "ics_mono_ms" "ics_mono_us")
string(REGEX MATCHALL "[ \tU]+[A-Za-z_][A-Za-z0-9_@.]*" symbols "${undefined}")
set(bad "")
foreach(line ${symbols})
  string(REGEX REPLACE "^[ \tU]+" "" sym "${line}")
  string(REGEX REPLACE "@.*" "" sym "${sym}")
  list(FIND forbidden "${sym}" at)
  if(NOT at EQUAL -1 OR sym MATCHES "^zmq_")
    list(APPEND bad "${sym}")
  endif()
endforeach()
if(bad)
  list(REMOVE_DUPLICATES bad)
  message(FATAL_ERROR "the state machine (daemon/fsm) must not call: ${bad}. What it computes "
                      "must be a function of the log's entries alone (fsm_internal.h).")
endif()
