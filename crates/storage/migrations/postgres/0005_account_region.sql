-- Oversight (issue #5): the country an account holder declared (ISO 3166-1
-- alpha-2). Which staff may act on the account, or on meetings it hosts, depends
-- on it, so a request must name this region rather than one its filer chose.
-- NULL: the server's configured default region.
ALTER TABLE accounts ADD COLUMN region TEXT;
