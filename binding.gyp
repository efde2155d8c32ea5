{
  "targets": [
    {
      "target_name": "reaper",
      "sources": ["native/reaper.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
