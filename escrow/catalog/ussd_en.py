"""USSD screens, English. (Owned by the USSD adapter's author; keys start with 'ussd.')

Every screen must fit 160 characters with "CON "/"END " and the longest realistic values, in
GSM-7 only (tests/unit/test_ussd_catalog.py checks). Amount placeholders arrive as "KES 1,500".
"""
MESSAGES: dict[str, str] = {
    # navigation
    "ussd.main": "Zemi Escrow",
    "ussd.menu.pay": "Pay a seller",
    "ussd.menu.request": "Request a payment",
    "ussd.menu.orders": "My orders",
    "ussd.menu.code": "Enter delivery code",
    "ussd.menu.language": "Language",
    "ussd.menu.help": "Help",
    "ussd.nav": "0 Back 00 Home",
    "ussd.nav.more": "98 More 0 Back 00 Home",
    "ussd.resume.ask": "You did not finish: {task}.\nContinue where you left off?\n1 Yes\n2 Start again",
    "ussd.task.pay": "Pay a seller",
    "ussd.task.request": "Request a payment",
    "ussd.task.code": "Enter delivery code",
    # pay a seller
    "ussd.pay.seller": "Enter the seller's M-Pesa number",
    "ussd.ask.amount": "Enter the amount in KES\n({min} to {max})",
    "ussd.pay.item": "What are you buying?\n(short, up to 20 letters)",
    "ussd.pay.summary": "Pay {party}\nItem: {item}\nPrice: {price}\nFee: {fee} ({fee_note})\n"
                        "You pay: {charge}\n1 Confirm\n2 Cancel\n0 Back",
    "ussd.pay.done": "Order {ref} created. You will receive an M-Pesa prompt for {charge}. "
                     "Enter your PIN to pay.",
    "ussd.fee_by.seller": "seller pays",
    "ussd.fee_by.buyer": "buyer pays",
    "ussd.cancelled": "Cancelled. Nothing was charged.",
    # request a payment
    "ussd.req.buyer": "Enter the buyer's M-Pesa number",
    "ussd.req.item": "What are you selling?\n(short, up to 20 letters)",
    "ussd.req.summary": "Ask {party} to pay\nItem: {item}\nPrice: {price}\nFee: {fee} ({fee_note})\n"
                        "You get: {payout}\n1 Confirm\n2 Cancel\n0 Back",
    "ussd.req.done": "Request {ref} sent. The buyer will get an SMS to accept and pay {charge}. "
                     "We will SMS you when it is paid.",
    # my orders
    "ussd.orders.row": "{n} {ref} {item} {state}",
    "ussd.orders.none": "You have no orders yet.",
    "ussd.order.detail": "{ref} {item}\n{price} {state}\n{party_line}",
    "ussd.order.as_buyer": "You buy from {party}",
    "ussd.order.as_seller": "You sell to {party}",
    "ussd.state.awaiting_payment": "Unpaid",
    "ussd.state.checking_payment": "Payment being checked",
    "ussd.state.funded": "Held",
    "ussd.state.released": "Released",
    "ussd.state.paid_out": "Paid out",
    "ussd.state.expired": "Expired",
    "ussd.state.cancelled": "Cancelled",
    "ussd.state.needs_review": "In review",
    "ussd.state.other": "Open",
    "ussd.action.pay_now": "Pay now",
    "ussd.action.paybill": "Pay via Paybill",
    "ussd.action.confirm_delivery": "Enter delivery code",
    "ussd.action.report_problem": "Report a problem",
    "ussd.action.mark_dispatched": "Mark as sent",
    "ussd.action.cancel": "Cancel order",
    "ussd.action.accept": "Accept and pay",
    "ussd.action.decline": "Decline",
    "ussd.action.new_code": "Get a new code",
    "ussd.done.pay_now": "Order {ref}: an M-Pesa prompt for {charge} is coming. Enter your PIN to pay.",
    "ussd.done.paybill": "Pay with M-Pesa Paybill {paybill}, account {ref}, amount {charge}. "
                         "We will SMS you when it arrives.",
    "ussd.done.accept": "Accepted. An M-Pesa prompt for {charge} is coming for order {ref}. "
                        "Enter your PIN to pay.",
    "ussd.done.decline": "Request {ref} declined. The seller will be told by SMS.",
    "ussd.done.dispatched": "Order {ref} marked as sent. You are paid when the buyer gives you "
                            "the delivery code.",
    "ussd.done.cancel": "Order {ref} cancelled. Nothing will be charged.",
    "ussd.done.new_code": "A new code was sent by SMS for order {ref}. The old code no longer works.",
    "ussd.done.dispute": "Problem reported on order {ref}. The money stays held. Our support team "
                         "will call you.",
    "ussd.cancel.ask": "Cancel order {ref}\n{item}?\n1 Yes, cancel it\n2 No, keep it\n0 Back",
    "ussd.dispute.ask": "What is wrong with order {ref}?",
    "ussd.reason.not_received": "Not received",
    "ussd.reason.damaged": "Damaged",
    "ussd.reason.wrong_item": "Wrong item",
    "ussd.reason.other": "Something else",
    # delivery code
    "ussd.code.ask": "Enter the 6-digit delivery code",
    "ussd.code.confirm": "Order {ref}\n{item}\n{price}\nRelease the money to the seller?\n"
                         "1 Confirm\n2 Cancel\n0 Back",
    "ussd.code.done": "Released. The seller is being paid {payout} for order {ref}.",
    "ussd.code.kept": "Not released. The money stays held until you confirm.",
    # language and help
    "ussd.language.ask": "Choose a language",
    "ussd.language.en": "English",
    "ussd.language.sw": "Kiswahili",
    "ussd.language.saved": "Language: English",
    "ussd.help": "Zemi holds your money until delivery. Paybill {paybill}. Fee {fee_pct}% "
                 "(min {fee_min}, max {fee_max}), paid by the {payer}. Help: {support}",
    "ussd.party.seller": "seller",
    "ussd.party.buyer": "buyer",
    # problems
    "ussd.err.choice": "Invalid choice.",
    "ussd.err.phone": "That number is not valid. Use 07.., 01.. or +254..",
    "ussd.err.self": "You cannot use your own number.",
    "ussd.err.amount": "Enter a whole amount in KES, digits only.",
    "ussd.err.range": "The amount must be {min} to {max}.",
    "ussd.err.item": "Please type a short description.",
    "ussd.err.code_format": "The code has 6 digits.",
    "ussd.err.wrong_code": "Wrong code. {remaining} tries left.",
    "ussd.err.locked": "Too many wrong codes, so code entry is locked. The buyer can get a new "
                       "code in My orders.",
    "ussd.err.not_found": "No matching order was found. Please check My orders.",
    "ussd.err.not_allowed": "You cannot do that on this order.",
    "ussd.err.changed": "This order has changed. Please check My orders.",
    "ussd.err.limit": "Sorry, a limit was reached. Please try again later.",
    "ussd.err.general": "Sorry, we could not do that. Please try again.",
    "ussd.err.busy": "Sorry, the service is busy. Please dial again in a moment.",
    "ussd.err.expired": "Your session has ended. Please dial again.",
    "ussd.err.too_long": "Sorry, that was too long to read. Please dial again.",
    "ussd.err.rate": "Too many requests from this number. Please wait a minute and dial again.",
}
