"""USSD screens, English. (Owned by the USSD adapter's author; keys start with 'ussd.')"""
MESSAGES: dict[str, str] = {}
