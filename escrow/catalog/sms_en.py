"""SMS texts, English. Each must fit one GSM-7 segment (160 characters) with realistic values."""
MESSAGES = {
    "sms.code_to_buyer": "Zemi: KES {charge} for {item} is held, order {ref}. Delivery code: {code}. "
                         "Give it to the seller ONLY after you receive the goods.",
    "sms.held_to_seller": "Zemi: KES {price} for {item} is held, order {ref}. Deliver to {buyer} "
                          "and ask for the code. Never deliver on any other SMS.",
    "sms.payout_to_seller": "Zemi: KES {payout} sent to your M-Pesa for order {ref} ({item}). "
                            "M-Pesa receipt {receipt}. Fee KES {fee}.",
    "sms.released_to_buyer": "Zemi: Delivery of {item} confirmed, order {ref}. KES {payout} "
                             "is being paid to the seller. Thank you.",
}
