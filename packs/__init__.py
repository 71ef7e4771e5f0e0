"""The shipped packs: data folders, one per pack (see packs/README.md)."""
