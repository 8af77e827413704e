"""SMS adapter: send texts and read delivery reports and incoming messages via Africa's Talking."""
