/*
 * What Node lacks to be PID 1 of a PostgreSQL container (named after its first job): becoming the
 * reaper of orphaned descendants when it is not PID 1, collecting the exit status of a process it
 * did not spawn, and sizing the kernel buffer of the log FIFOs. Deliberately no waitpid(-1):
 * libuv waits for the children it spawned by pid, and a wildcard wait would steal their exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <node_api.h>

#define CHECK(env, call)                                                  \
  do {                                                                    \
    if ((call) != napi_ok) {                                              \
      napi_throw_error((env), NULL, "reaper: N-API call failed: " #call); \
      return NULL;                                                        \
    }                                                                     \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int error) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, strerror(error));
  napi_throw_error(env, NULL, message);
  return NULL;
}

/* setChildSubreaper(): orphaned descendants are re-parented to this process instead of PID 1. */
static napi_value set_child_subreaper(napi_env env, napi_callback_info info) {
  (void)info;
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return throw_errno(env, "prctl(PR_SET_CHILD_SUBREAPER)", errno);
  napi_value undefined;
  CHECK(env, napi_get_undefined(env, &undefined));
  return undefined;
}

/*
 * reap(pid): collects `pid` if it has ended. Returns { code, signal } (one of them null, signal as
 * a number) or null when it is still running or is not (any longer) a child of this process.
 */
static napi_value reap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t pid = 0;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &pid) != napi_ok || pid <= 0) {
    napi_throw_type_error(env, NULL, "reap(pid): pid must be a positive integer");
    return NULL;
  }

  int status = 0;
  pid_t result;
  do result = waitpid((pid_t)pid, &status, WNOHANG);
  while (result == -1 && errno == EINTR);

  napi_value value;
  if (result == 0 || (result == -1 && errno == ECHILD)) {
    CHECK(env, napi_get_null(env, &value));
    return value;
  }
  if (result == -1) return throw_errno(env, "waitpid", errno);

  napi_value code, signal;
  if (WIFSIGNALED(status)) {
    CHECK(env, napi_get_null(env, &code));
    CHECK(env, napi_create_int32(env, WTERMSIG(status), &signal));
  } else {
    CHECK(env, napi_create_int32(env, WEXITSTATUS(status), &code));
    CHECK(env, napi_get_null(env, &signal));
  }
  CHECK(env, napi_create_object(env, &value));
  CHECK(env, napi_set_named_property(env, value, "code", code));
  CHECK(env, napi_set_named_property(env, value, "signal", signal));
  return value;
}

/*
 * setPipeSize(fd, bytes): asks for a pipe buffer of `bytes` (fcntl F_SETPIPE_SZ) and returns the
 * size the pipe has afterwards, which is its old one when the kernel refuses (a size over
 * /proc/sys/fs/pipe-max-size for an unprivileged user).
 */
static napi_value set_pipe_size(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd = -1, bytes = 0;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || napi_get_value_int32(env, argv[1], &bytes) != napi_ok || bytes <= 0) {
    napi_throw_type_error(env, NULL, "setPipeSize(fd, bytes): fd and bytes must be non-negative and positive integers");
    return NULL;
  }
  int size = fcntl(fd, F_SETPIPE_SZ, bytes);
  if (size == -1) size = fcntl(fd, F_GETPIPE_SZ);
  if (size == -1) return throw_errno(env, "fcntl(F_GETPIPE_SZ)", errno);
  napi_value value;
  CHECK(env, napi_create_int32(env, size, &value));
  return value;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor properties[] = {
    {"setChildSubreaper", NULL, set_child_subreaper, NULL, NULL, NULL, napi_enumerable, NULL},
    {"reap", NULL, reap, NULL, NULL, NULL, napi_enumerable, NULL},
    {"setPipeSize", NULL, set_pipe_size, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties) != napi_ok) return NULL;
  return exports;
}
