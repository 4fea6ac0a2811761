-- osCommerce 2.3 `products` (the columns of catalog/install/oscommerce.sql that stock updates touch) with two
-- products; `products_model` is the SKU.
CREATE TABLE products (
  products_id int NOT NULL auto_increment,
  products_quantity int(4) NOT NULL,
  products_model varchar(12),
  products_price decimal(15,4) NOT NULL,
  products_date_added datetime NOT NULL,
  products_last_modified datetime,
  products_weight decimal(5,2) NOT NULL,
  products_status tinyint(1) NOT NULL,
  products_tax_class_id int NOT NULL,
  PRIMARY KEY (products_id),
  KEY idx_products_model (products_model)
) DEFAULT CHARSET=utf8mb4;

INSERT INTO products (products_id, products_quantity, products_model, products_price, products_date_added,
                      products_weight, products_status, products_tax_class_id) VALUES
  (28, 12, 'OSC-MUG-1', 9.9900, '2026-01-05 10:00:00', 0.40, 1, 1),
  (29, 3, 'OSC-TEE-L', 14.5000, '2026-01-05 10:00:00', 0.20, 1, 1);
