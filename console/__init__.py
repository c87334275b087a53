"""The seller console: a server-rendered web app where sellers follow their sales and operators support them."""
