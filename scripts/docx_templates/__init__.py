"""One module per Word template: FILENAME and build() -> python-docx Document."""
