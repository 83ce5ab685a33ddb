"""Where everything is kept: engines, tables, rows, the store, image rows, migrations."""
