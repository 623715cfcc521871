"""The event-log table, its versioned migrations, and the capture triggers on PrestaShop's tables."""

from __future__ import annotations

from dataclasses import dataclass

import pymysql
from pymysql.connections import Connection

from amazon_sync.adapters.mysql.settings import validate_table_prefix
from amazon_sync.errors import SchemaMissing

# claimed_at of a row never claimed (sessions run in UTC); it means something only while a row is claimed.
NOT_CLAIMED_AT = "2000-01-01 00:00:00"

# Log states. A row is pending until an export claims it; it stays claimed until Amazon's verdict
# on every message built from it is known; failed rows are kept for an operator.
PENDING = 0
CLAIMED = 1
FAILED = 2
# The batch id of a row no batch holds. A NOT NULL column with a fixed-size value is updated in place:
# a NULL taking a value grows the record and InnoDB rewrites it, which made claiming 1.4x slower.
NO_BATCH = 0


@dataclass(frozen=True)
class Tables:
    """Every table name this package uses, derived from one validated prefix."""

    prefix: str

    def __post_init__(self) -> None:
        validate_table_prefix(self.prefix)

    def table(self, name: str) -> str:
        """A PrestaShop table, prefixed and quoted for SQL."""
        return f"`{self.prefix}{name}`"

    @property
    def log(self) -> str:
        return f"`{self.prefix}amazon_sync_log`"

    @property
    def meta(self) -> str:
        return f"`{self.prefix}amazon_sync_meta`"

    @property
    def offer_state(self) -> str:
        return f"`{self.prefix}amazon_sync_offer_state`"

    @property
    def listing(self) -> str:
        return f"`{self.prefix}amazon_sync_listing`"

    @property
    def open_sale(self) -> str:
        return f"`{self.prefix}amazon_sync_open_sale`"

    @property
    def drift(self) -> str:
        return f"`{self.prefix}amazon_sync_drift`"

    def raw(self, name: str) -> str:
        return f"{self.prefix}{name}"


def _migrations(t: Tables) -> list[tuple[int, str, list[str]]]:
    return [
        (
            1,
            "event log, schema version and last accepted offer state",
            [
                f"""CREATE TABLE IF NOT EXISTS {t.log} (
                  `id_amazon_sync_log` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
                  `id_product` INT UNSIGNED NOT NULL,
                  `id_product_attribute` INT UNSIGNED NOT NULL DEFAULT 0,
                  `id_shop` INT UNSIGNED NOT NULL DEFAULT 0,
                  `change_kind` ENUM('stock', 'price', 'product') NOT NULL,
                  `changed_at` TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                  `state` TINYINT UNSIGNED NOT NULL DEFAULT 0,
                  `batch_id` BIGINT UNSIGNED NULL,
                  `claimed_at` TIMESTAMP(6) NULL DEFAULT NULL,
                  `attempts` SMALLINT UNSIGNED NOT NULL DEFAULT 0,
                  `not_before` TIMESTAMP(6) NULL DEFAULT NULL,
                  `last_error` VARCHAR(500) NULL DEFAULT NULL,
                  PRIMARY KEY (`id_amazon_sync_log`),
                  KEY `state_batch` (`state`, `batch_id`, `id_amazon_sync_log`),
                  KEY `state_offer` (`state`, `id_product`, `id_product_attribute`, `id_shop`)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
                f"""CREATE TABLE IF NOT EXISTS {t.meta} (
                  `name` VARCHAR(64) NOT NULL,
                  `value` VARCHAR(255) NOT NULL,
                  PRIMARY KEY (`name`)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
                f"""CREATE TABLE IF NOT EXISTS {t.offer_state} (
                  `marketplace_id` VARCHAR(20) NOT NULL,
                  `sku` VARCHAR(40) NOT NULL,
                  `id_product` INT UNSIGNED NOT NULL,
                  `id_product_attribute` INT UNSIGNED NOT NULL,
                  `quantity` INT NULL,
                  `price` DECIMAL(20, 2) NULL,
                  `fingerprint` CHAR(16) NULL,
                  `accepted_at` TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                  PRIMARY KEY (`marketplace_id`, `sku`),
                  KEY `offer` (`marketplace_id`, `id_product`, `id_product_attribute`)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
            ],
        ),
        (
            2,
            "log rows of kind 'calendar': offers whose price changes by the clock",
            # appending a value to an ENUM is a metadata-only change: no table copy, no long lock
            [f"ALTER TABLE {t.log} MODIFY `change_kind` ENUM('stock', 'price', 'product', 'calendar') NOT NULL"],
        ),
        (
            3,
            "what Amazon shows (listings report), reconciliation findings, drift rows in the log",
            [
                f"""CREATE TABLE IF NOT EXISTS {t.listing} (
                  `marketplace_id` VARCHAR(20) NOT NULL,
                  `sku` VARCHAR(40) NOT NULL,
                  `fulfillment_channel` VARCHAR(20) NOT NULL,
                  `fba` TINYINT(1) NOT NULL,
                  `quantity` INT NULL,
                  `price` DECIMAL(20, 2) NULL,
                  `status` VARCHAR(20) NOT NULL,
                  `asin` VARCHAR(10) NULL,
                  `read_at` TIMESTAMP(6) NOT NULL,
                  -- no index on read_at: nothing looks rows up by it; the SKUs a report no longer
                  -- lists are found by one scan of the marketplace's primary-key range
                  PRIMARY KEY (`marketplace_id`, `sku`)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
                f"""CREATE TABLE IF NOT EXISTS {t.drift} (
                  `marketplace_id` VARCHAR(20) NOT NULL,
                  `kind` ENUM('drift', 'not_on_amazon', 'listing_problem') NOT NULL,
                  `sku` VARCHAR(40) NOT NULL,
                  `id_product` INT UNSIGNED NOT NULL DEFAULT 0,
                  `id_product_attribute` INT UNSIGNED NOT NULL DEFAULT 0,
                  `detail` VARCHAR(255) NOT NULL DEFAULT '',
                  `repairs` SMALLINT UNSIGNED NOT NULL DEFAULT 0,
                  `fought_over` TINYINT(1) NOT NULL DEFAULT 0,
                  `first_seen` TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                  `last_seen` TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                  PRIMARY KEY (`marketplace_id`, `kind`, `sku`)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
                # a value appended at the end of an ENUM is an in-place change: the log is not rebuilt
                f"ALTER TABLE {t.log} MODIFY `change_kind` "
                "ENUM('stock', 'price', 'product', 'calendar', 'drift') NOT NULL",
            ],
        ),
        (
            4,
            "cheaper claims: batch_id and claimed_at NOT NULL, one covering index from (batch_id, state)",
            # Claiming writes every row it takes; each secondary index holding a changed column is one more
            # delete and insert per row. A claim now reads the rows in primary-key order from the first
            # pending id (found through `batch_state`), so `state_batch` and `state_offer` only cost writes.
            # Measured on 1,000,000 rows (MariaDB 10.11): claiming 31.3 s before, 12.3 s after.
            # The defaults change first (metadata only), so rows the triggers add meanwhile are not NULL.
            [
                f"ALTER TABLE {t.log} ALTER COLUMN `batch_id` SET DEFAULT {NO_BATCH}, "
                f"ALTER COLUMN `claimed_at` SET DEFAULT '{NOT_CLAIMED_AT}'",
                f"UPDATE {t.log} SET `batch_id` = {NO_BATCH} WHERE `batch_id` IS NULL",
                f"UPDATE {t.log} SET `claimed_at` = '{NOT_CLAIMED_AT}' WHERE `claimed_at` IS NULL",
                f"ALTER TABLE {t.log} MODIFY `batch_id` BIGINT UNSIGNED NOT NULL DEFAULT {NO_BATCH}, "
                f"MODIFY `claimed_at` TIMESTAMP(6) NOT NULL DEFAULT '{NOT_CLAIMED_AT}', "
                # one statement, so it happens whole or not at all (MySQL 8.0 has no DROP INDEX IF EXISTS)
                "DROP INDEX `state_batch`, DROP INDEX `state_offer`, "
                # covering what is read by batch (a batch's rows, the products of other batches, the pending
                # offers' count): no row lookups; an entry a claim rewrites anyway costs no more for it
                "ADD INDEX `batch_state` (`batch_id`, `state`, `id_amazon_sync_log`, `id_product`, "
                "`id_product_attribute`, `id_shop`, `change_kind`)",
            ],
        ),
        (
            5,
            "sales sent without an end, beside the offer state (they were DynamoDB items)",
            [
                f"""CREATE TABLE IF NOT EXISTS {t.open_sale} (
                  `marketplace_id` VARCHAR(20) NOT NULL,
                  `sku` VARCHAR(40) NOT NULL,
                  `since` TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
                  PRIMARY KEY (`marketplace_id`, `sku`)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
            ],
        ),
        (
            6,
            "cheaper claims and deletes: the log keeps no secondary index",
            # A claim changes batch_id and state, so every index holding them costs a delete and an insert
            # per row claimed, another delete per row acknowledged, and one more write per row the shop's
            # triggers add. Marking 1,000,000 rows in 1,000-row transactions (MariaDB 10.11): 6.7-7.1 s with
            # `batch_state`, 1.8-1.9 s without it. What read through it reads the primary key instead: a
            # claim from the first pending id in id order; a batch's rows between the ids it claimed, or by
            # one pass over the log. Dropping an index is in place: the log is not copied.
            [f"ALTER TABLE {t.log} DROP INDEX `batch_state`"],
        ),
    ]


SCHEMA_VERSION = 6


def installed_version(conn: Connection[pymysql.cursors.Cursor], t: Tables) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                    "AND TABLE_NAME = %s", (t.raw("amazon_sync_meta"),))
        row = cur.fetchone()
        if not row or not row[0]:
            return 0
        cur.execute(f"SELECT `value` FROM {t.meta} WHERE `name` = 'schema_version'")
        row = cur.fetchone()
        return int(row[0]) if row else 0


def install(conn: Connection[pymysql.cursors.Cursor], t: Tables) -> list[str]:
    """Apply the migrations not yet applied; running it again changes nothing."""
    require_prestashop_tables(conn, t)
    current = installed_version(conn, t)
    applied: list[str] = []
    with conn.cursor() as cur:
        for version, description, statements in _migrations(t):
            if version <= current:
                continue
            for statement in statements:
                cur.execute(statement)
            cur.execute(
                f"INSERT INTO {t.meta} (`name`, `value`) VALUES ('schema_version', %s) "
                "ON DUPLICATE KEY UPDATE `value` = VALUES(`value`)",
                (str(version),),
            )
            applied.append(f"v{version}: {description}")
    return applied


REQUIRED_PRESTASHOP_TABLES = (
    "product", "product_shop", "product_attribute", "product_attribute_shop", "stock_available",
    "specific_price", "tax", "tax_rule", "tax_rules_group", "currency", "currency_shop", "country",
    "shop", "shop_group",
)


def require_prestashop_tables(conn: Connection[pymysql.cursors.Cursor], t: Tables) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
        )
        present = {row[0] for row in cur.fetchall()}
    missing = [t.raw(name) for name in REQUIRED_PRESTASHOP_TABLES if t.raw(name) not in present]
    if missing:
        raise SchemaMissing(
            f"PrestaShop table(s) {', '.join(missing)} not found in this database: "
            f"is DB_NAME right, and is the table prefix {t.prefix!r} the shop's?"
        )


def require_log(conn: Connection[pymysql.cursors.Cursor], t: Tables) -> None:
    if installed_version(conn, t) < SCHEMA_VERSION:
        raise SchemaMissing(
            f"the event log {t.raw('amazon_sync_log')} is not installed or is out of date: "
            "run `amazon-sync db install --triggers`"
        )


# --- triggers -------------------------------------------------------------------------------------


def _changed(*columns: str) -> str:
    return " OR ".join(f"NOT (OLD.`{c}` <=> NEW.`{c}`)" for c in columns)


def _trigger_specs(t: Tables) -> list[tuple[str, str, str, str]]:
    """(name suffix, timing+event, table, body) of every capture trigger."""

    def log(product: str, attribute: str, shop: str, kind: str) -> str:
        return (f"INSERT INTO {t.log} (`id_product`, `id_product_attribute`, `id_shop`, `change_kind`) "
                f"VALUES ({product}, {attribute}, {shop}, '{kind}')")

    def moved_or_changed(columns: tuple[str, ...], kind: str) -> str:
        # A row moved to another product/combination/shop changes the offer it left as well.
        key = ("id_product", "id_product_attribute", "id_shop")
        return (f"IF {_changed(*columns, *key)} THEN "
                + log("NEW.id_product", "NEW.id_product_attribute", "NEW.id_shop", kind) + "; "
                + f"IF {_changed(*key)} THEN "
                + log("OLD.id_product", "OLD.id_product_attribute", "OLD.id_shop", kind) + "; END IF; END IF")

    sku_columns = ("reference", "ean13", "supplier_reference")
    specific_columns = ("id_product", "id_product_attribute", "id_shop", "id_shop_group", "id_currency",
                        "id_country", "id_group", "id_customer", "id_cart", "price", "from_quantity",
                        "reduction", "reduction_tax", "reduction_type", "from", "to")
    return [
        ("stock_ai", "AFTER INSERT", "stock_available",
         log("NEW.id_product", "NEW.id_product_attribute", "NEW.id_shop", "stock")),
        ("stock_au", "AFTER UPDATE", "stock_available",
         moved_or_changed(("quantity", "out_of_stock"), "stock")),
        ("stock_ad", "AFTER DELETE", "stock_available",
         log("OLD.id_product", "OLD.id_product_attribute", "OLD.id_shop", "stock")),
        ("pshop_ai", "AFTER INSERT", "product_shop", log("NEW.id_product", "0", "NEW.id_shop", "product")),
        ("pshop_au", "AFTER UPDATE", "product_shop",
         f"IF {_changed('price', 'active', 'id_tax_rules_group', 'available_for_order')} THEN "
         + log("NEW.id_product", "0", "NEW.id_shop", "price") + "; END IF"),
        ("pshop_ad", "AFTER DELETE", "product_shop", log("OLD.id_product", "0", "OLD.id_shop", "product")),
        ("pashop_ai", "AFTER INSERT", "product_attribute_shop",
         log("NEW.id_product", "NEW.id_product_attribute", "NEW.id_shop", "product")),
        ("pashop_au", "AFTER UPDATE", "product_attribute_shop",
         f"IF {_changed('price')} THEN "
         + log("NEW.id_product", "NEW.id_product_attribute", "NEW.id_shop", "price") + "; END IF"),
        ("pashop_ad", "AFTER DELETE", "product_attribute_shop",
         log("OLD.id_product", "OLD.id_product_attribute", "OLD.id_shop", "product")),
        ("pattr_au", "AFTER UPDATE", "product_attribute",
         f"IF {_changed(*sku_columns)} THEN "
         + log("NEW.id_product", "NEW.id_product_attribute", "0", "product") + "; END IF"),
        ("product_au", "AFTER UPDATE", "product",
         f"IF {_changed(*sku_columns)} THEN " + log("NEW.id_product", "0", "0", "product") + "; END IF"),
        ("sprice_ai", "AFTER INSERT", "specific_price",
         log("NEW.id_product", "NEW.id_product_attribute", "NEW.id_shop", "price")),
        ("sprice_au", "AFTER UPDATE", "specific_price", moved_or_changed(specific_columns, "price")),
        ("sprice_ad", "AFTER DELETE", "specific_price",
         log("OLD.id_product", "OLD.id_product_attribute", "OLD.id_shop", "price")),
    ]


def trigger_tables(t: Tables) -> list[str]:
    """PrestaShop tables that carry capture triggers (unprefixed names)."""
    return sorted({table for _, _, table, _ in _trigger_specs(t)})


def trigger_names(t: Tables) -> list[str]:
    return [f"{t.prefix}amazon_sync_{suffix}" for suffix, _, _, _ in _trigger_specs(t)]


def install_triggers(conn: Connection[pymysql.cursors.Cursor], t: Tables) -> list[str]:
    """(Re)create every capture trigger; each is dropped and created, so this is idempotent."""
    require_log(conn, t)
    created = []
    with conn.cursor() as cur:
        for suffix, timing, table, body in _trigger_specs(t):
            name = f"{t.prefix}amazon_sync_{suffix}"
            statement = (f"CREATE TRIGGER `{name}` {timing} ON `{t.prefix}{table}` FOR EACH ROW "
                         f"BEGIN {body}; END")
            try:  # with binary logging, MySQL refuses the DROP as well as the CREATE (error 1419)
                cur.execute(f"DROP TRIGGER IF EXISTS `{name}`")
                cur.execute(statement)
            except pymysql.err.OperationalError as exc:
                if exc.args and exc.args[0] == 1419:
                    raise SchemaMissing(
                        "the server refused to create triggers because binary logging is on: set the "
                        "parameter log_bin_trust_function_creators = 1 in the RDS parameter group"
                    ) from None
                raise
            created.append(name)
    return created


def uninstall_triggers(conn: Connection[pymysql.cursors.Cursor], t: Tables) -> list[str]:
    dropped = []
    with conn.cursor() as cur:
        for name in trigger_names(t):
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() "
                "AND TRIGGER_NAME = %s", (name,))
            row = cur.fetchone()
            if row and row[0]:
                cur.execute(f"DROP TRIGGER `{name}`")
                dropped.append(name)
    return dropped


def installed_triggers(conn: Connection[pymysql.cursors.Cursor], t: Tables) -> list[str]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() "
            "AND TRIGGER_NAME LIKE %s ORDER BY TRIGGER_NAME", (f"{t.prefix}amazon\\_sync\\_%",))
        return [row[0] for row in cur.fetchall()]
