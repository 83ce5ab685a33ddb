"""Images in and out: checks, uploads and previews, marked regions."""
