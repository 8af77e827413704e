"""SMS texts, English. Each must fit one GSM-7 segment (160 characters) with realistic values.

Placeholders: amounts come formatted ("250,000"), numbers masked (0712***678), {deadline} as
"23 Nov" or "23 Nov 14:05". tests/unit/test_sms_catalog.py renders every text at its longest.
"""
MESSAGES = {
    "sms.code_to_buyer": "Zemi: KES {charge} for {item} is held, order {ref}. Delivery code: {code}. "
                         "Give it to the seller ONLY after you receive the goods.",
    "sms.held_to_seller": "Zemi: {item}, order {ref}: KES {price} is held. Accept: dial "
                          "{dial_order} then deliver to {buyer} for the code. Ignore other SMS.",
    "sms.payout_to_seller": "Zemi: KES {payout} sent to your M-Pesa for order {ref} ({item}). "
                            "M-Pesa receipt {receipt}. Fee KES {fee}.",
    "sms.released_to_buyer": "Zemi: Order {ref} ({item}) is complete. Seller {seller} is being paid "
                             "KES {payout}; the Zemi fee is KES {fee}. Thank you.",
    # replies to texts sent to our short code
    "sms.help": "Zemi holds payments until delivery. Paybill {paybill}, account: order number. "
                "Fee {fee_pct}% (min KES {fee_min}, max KES {fee_max}), {fee_note}. Help: {support}",
    "sms.stopped": "Zemi: Reminders are now off for this number. You will still get payment and "
                   "delivery messages. Reply HELP for help.",
    # ERASE / FUTA (escrow/privacy/erasure.py): a code to text back first, then what happens
    "sms.erasure_confirm": "Zemi: To erase your number, reply {word} {code} within 24 hours. If you did not "
                           "ask, ignore this SMS: nothing will be erased.",
    "sms.erasure_now": "Zemi: We are erasing your number now. Your past orders stay, without it. You "
                       "will get no more SMS from us. Dial {ussd_code} to start again any time.",
    "sms.erasure_later": "Zemi: You have orders in progress. Your number will be erased when the last "
                         "one ends; until then you still get SMS about them.",
    # paying
    "sms.payment_failed": "Zemi: Order {ref} not paid: {reason}. Try again: dial {dial_order} or "
                          "Paybill {paybill}, account {ref}.",
    "sms.payment_request_to_buyer": "Zemi: {seller} asks you to pay KES {charge} for {item}, order "
                                    "{ref}. Held until you get it. Dial {dial_order} to accept or "
                                    "decline.",
    # a payment request's pay link (escrow/payment_links.py): the buyer's text when it fits one segment
    "sms.payment_link_to_buyer": "Zemi: {seller} asks KES {charge} for {item}, order {ref}. Held until "
                                 "you get it. Pay: {link}",
    "sms.pay_link_to_seller": "Zemi: Request {ref} for {item}, KES {charge} sent to the buyer by SMS. "
                              "Follow it here: {link}",
    "sms.request_declined_to_seller": "Zemi: {buyer} declined your request for KES {charge} for "
                                      "{item}, order {ref}. No money was taken.",
    "sms.order_expired": "Zemi: Order {ref} for {item} has expired because it was not paid in time. "
                         "No money was taken. You can start a new order any time.",
    "sms.order_cancelled": "Zemi: Order {ref} for {item} has been cancelled. Do not send the item. "
                           "Any money paid is returned to the buyer.",
    "sms.refund_seller_cancelled": "Zemi: Seller {seller} cancelled order {ref} ({item}). All KES "
                                   "{amount} you paid, fee included, is being refunded to your M-Pesa.",
    "sms.refund_not_dispatched": "Zemi: Seller {seller} did not accept or send {item} (order {ref}) in "
                                 "time. All KES {amount} you paid, fee included, is being refunded.",
    "sms.payment_returned": "Zemi: We could not use your payment of KES {amount} for order {ref}. "
                            "It is being returned to your M-Pesa.",
    # refunds
    "sms.refund_queued": "Zemi: Order {ref} is being refunded. KES {amount} will be sent to your "
                         "M-Pesa shortly. We will SMS you the receipt.",
    "sms.refund_sent": "Zemi: KES {amount} for order {ref} has been refunded to your M-Pesa. "
                       "M-Pesa receipt {receipt}.",
    # delivery
    "sms.dispatched_to_buyer": "Zemi: {item} (order {ref}) has been sent. Give the seller your code "
                               "only once you have it. Report any problem by {deadline}.",
    "sms.code_locked_to_buyer": "Zemi: Too many wrong codes were entered for order {ref}, so that "
                                "code no longer works. For a new one dial {dial_order} and choose Get a new code.",
    "sms.new_code_to_buyer": "Zemi: Your new delivery code for order {ref} is {code}. Older codes no "
                             "longer work. Give it to the seller ONLY after you receive the goods.",
    # disputes
    "sms.dispute_opened": "Zemi: The buyer reported a problem with order {ref} ({item}): {problem}. "
                          "Money held. Zemi will call you within 2 working days.",
    "sms.dispute_received": "Zemi: We got your report on order {ref} ({item}). The money stays held. "
                            "Zemi will call you within 2 working days, then SMS the decision.",
    # an operator's decision, one text per outcome (both parties get it)
    "sms.dispute_released": "Zemi: Decision on order {ref} ({item}): the seller is paid KES {payout} and "
                            "the buyer gets no refund. Money due to you goes to your M-Pesa.",
    "sms.dispute_refunded": "Zemi: Decision on order {ref} ({item}): the buyer gets back all KES {amount} "
                            "and the seller is not paid. Money due to you goes to your M-Pesa.",
    "sms.dispute_split": "Zemi: Decision on order {ref} ({item}): the seller gets KES {to_seller}, the buyer "
                         "gets back KES {to_buyer}. The KES {fee} fee is paid by the {payer}.",
    # reminders (a STOP reply turns these off)
    "sms.reminder_to_pay": "Zemi: Order {ref} for {item} is not paid yet and expires in {minutes} "
                           "minutes. Accept the M-Pesa prompt to pay. Reply STOP to end reminders.",
    "sms.reminder_to_pay_paybill": "Zemi: Order {ref} for {item} is not paid yet and expires in {minutes} "
                                   "minutes. Pay by Paybill {paybill}, account {ref}. Reply STOP to end reminders.",
    "sms.reminder_to_dispatch": "Zemi: Order {ref} ({item}) is paid. Send it and mark it sent "
                                "(dial {dial_order}) or the buyer is refunded {deadline}.",
    "sms.reminder_to_confirm": "Zemi: Got {item} (order {ref})? Give the seller your code. Report a "
                               "problem before {deadline}, or the seller is paid then.",
    # a shop's or app's request to act for this number (api/verifications.py)
    "sms.verification_code": "Zemi: {code} is your code to let an app use Zemi for this number. It "
                             "works for {minutes} minutes. Never share it with a caller.",
    # fragments filled into the texts above, in the reader's language
    "sms.reason.not_received": "not received",
    "sms.reason.damaged": "damaged",
    "sms.reason.wrong_item": "wrong item",
    "sms.reason.other": "something else",
    "sms.party.seller": "seller",
    "sms.party.buyer": "buyer",
    # why an M-Pesa payment prompt failed: the {reason} of sms.payment_failed
    "sms.stk_reason.cancelled": "you cancelled the M-Pesa prompt",
    "sms.stk_reason.unreachable": "your phone could not be reached",
    "sms.stk_reason.insufficient_funds": "your M-Pesa balance was not enough",
    "sms.stk_reason.wrong_pin": "the M-Pesa PIN was wrong",
    "sms.stk_reason.busy": "your line was busy with another transaction",
    "sms.stk_reason.too_soon": "a similar payment was just made; wait 2 minutes",
    "sms.stk_reason.expired": "the M-Pesa prompt timed out",
    "sms.stk_reason.other": "M-Pesa did not complete it",
}
