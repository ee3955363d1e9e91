{
  "targets": [
    {
      "target_name": "island_native",
      "sources": ["addon.c", "aead.c", "md5_lanes.c", "md5_napi.c", "memory.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
