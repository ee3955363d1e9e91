{
  "targets": [
    {
      "target_name": "island_aead",
      "sources": ["aead.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
