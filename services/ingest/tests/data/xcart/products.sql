-- X-Cart 4 `xcart_products` (the columns of sql/xcart_tables.sql that stock updates touch) with two products;
-- `productcode` is the SKU and `avail` the quantity in stock.
CREATE TABLE xcart_products (
  productid int(11) NOT NULL AUTO_INCREMENT,
  productcode varchar(32) NOT NULL DEFAULT '',
  provider int(11) NOT NULL DEFAULT '0',
  weight decimal(12,2) NOT NULL DEFAULT '0.00',
  list_price decimal(12,2) NOT NULL DEFAULT '0.00',
  avail int(11) NOT NULL DEFAULT '0',
  forsale char(1) NOT NULL DEFAULT 'Y',
  add_date int(11) NOT NULL DEFAULT '0',
  low_avail_limit int(11) NOT NULL DEFAULT '10',
  PRIMARY KEY (productid),
  KEY productcode (productcode)
) DEFAULT CHARSET=utf8mb4;

INSERT INTO xcart_products (productid, productcode, avail) VALUES (16, 'XC-LAMP', 4), (17, 'XC-SHADE', 9);
