"""USSD adapter: Africa's Talking USSD sessions in front of the escrow core.

- `screens` / `flows` declare every screen as data (menu, input, confirmation, paged list).
- `engine.step(state, input, ctx)` is the pure flow: it walks the screens, calls the injected
  escrow service, and returns the next state, the reply and the actions it performed.
- `session_store.RedisSessionStore` keeps session state, replay digests, resume records and
  rate counters in Redis (never a delivery code or a full number as a key).
- `conversation.Conversation` runs one hop; `routes.make_ussd_blueprint` is the Flask face.

Nothing here calls M-Pesa or SMS: money-moving actions are recorded by the core and sent by
the worker after the session has ended.
"""
