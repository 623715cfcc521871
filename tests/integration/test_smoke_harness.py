def test_fresh_database_has_the_log_and_triggers(shop_db):
    assert shop_db.scalar("SELECT COUNT(*) FROM ps_amazon_sync_log") == 0
    assert shop_db.scalar("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()") == 14
