-- Zen Cart 1.5 `products` (the columns of zc_install/sql/install/mysql_zencart.sql that stock updates touch; the
-- quantity is a float there) with two products; `products_model` is the SKU.
CREATE TABLE products (
  products_id int(11) NOT NULL auto_increment,
  products_type int(11) NOT NULL default '1',
  products_quantity float NOT NULL default '0',
  products_model varchar(32) default NULL,
  products_price decimal(15,4) NOT NULL default '0.0000',
  products_date_added datetime NOT NULL default '0001-01-01 00:00:00',
  products_last_modified datetime default NULL,
  products_status tinyint(1) NOT NULL default '0',
  PRIMARY KEY (products_id),
  KEY idx_products_model_zen (products_model)
) DEFAULT CHARSET=utf8mb4;

INSERT INTO products (products_id, products_quantity, products_model, products_price, products_status) VALUES
  (180, 7, 'ZC-CANDLE', 11.0000, 1), (181, 0, 'ZC-WICK', 2.5000, 1);
