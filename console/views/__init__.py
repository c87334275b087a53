"""The console's pages, one module per section (like Datasette's views/)."""
