"""One module per annex: its WTForms class and its DOCUMENT_TYPE; plus staff forms."""
