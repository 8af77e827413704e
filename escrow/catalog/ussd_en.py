"""USSD screens, English. (Owned by the USSD adapter's author; keys start with 'ussd.')

Every screen must fit 160 characters with "CON "/"END " and the longest realistic values, in
GSM-7 only (tests/unit/test_ussd_catalog.py checks). Amount placeholders arrive as "KES 1,500".
Numbers of the other party to a deal arrive in full (0712345678): they must reach each other.
"""
MESSAGES: dict[str, str] = {
    # navigation
    "ussd.main": "Zemi Escrow",
    "ussd.welcome": "Welcome! Kwa Kiswahili, chagua 5.",
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
    "ussd.pay.seller": "{network_note}Enter the seller's M-Pesa number",
    "ussd.pay.not_mpesa_line": "This line is not Safaricom: no M-Pesa prompt can reach it. You will pay "
                               "by Paybill from an M-Pesa line.\n",
    "ussd.pay.check_seller": "{party} is not a Safaricom number, so it may not be on M-Pesa. "
                             "Pay it anyway?\n1 Yes, continue\n2 Change number\n0 Back",
    "ussd.pay.done_paybill": "Order {ref} created. No M-Pesa prompt can reach this line: from an M-Pesa "
                             "line pay Paybill {paybill}, account {ref}, amount {charge}.",
    "ussd.ask.amount": "Enter the amount in KES\n({min} to {max})",
    "ussd.pay.item": "What are you buying?\n(short, up to 20 letters)",
    "ussd.pay.summary": "Pay {party}\nItem: {item}\nPrice: {price}\nFee: {fee} ({fee_note})\n"
                        "You pay: {charge}{charge_note}\n1 Confirm\n2 Cancel\n0 Back",
    "ussd.pay.done": "Order {ref} created. You will receive an M-Pesa prompt for {charge}. "
                     "Enter your PIN to pay.",
    "ussd.fee_by.seller": "seller pays",
    "ussd.fee_by.buyer": "buyer pays",
    "ussd.with_fee": " with fee",
    "ussd.after_fee": " after fee",
    "ussd.less_fee": " ({price} less {fee} fee)",
    "ussd.cancelled": "Cancelled. Nothing was charged.",
    # request a payment
    "ussd.req.buyer": "Enter the buyer's M-Pesa number",
    "ussd.req.item": "What are you selling?\n(short, up to 20 letters)",
    "ussd.req.summary": "Ask {party} to pay\nItem: {item}\nPrice: {price}\nFee: {fee} ({fee_note})\n"
                        "You get: {payout}{payout_note}\n1 Confirm\n2 Cancel\n0 Back",
    "ussd.req.done": "Request {ref} sent. The buyer will get an SMS to accept and pay {charge}. "
                     "We will SMS you when it is paid.",
    # my orders
    "ussd.orders.row": "{n} {item} ({state})",
    "ussd.orders.none": "You have no orders yet.",
    "ussd.order.detail": "{ref} {item}\n{state}: {price}\n{party_line}{next}",
    "ussd.order.as_buyer": "Seller: {party}",
    "ussd.order.as_seller": "Buyer: {party}",
    # one word per state, the same in lists and on the order screen
    "ussd.state.requested": "Requested",
    "ussd.state.awaiting_payment": "Waiting for payment",
    "ussd.state.checking_payment": "Payment being checked",
    "ussd.state.funded": "Paid, held",
    "ussd.state.dispatched": "Sent",
    "ussd.state.disputed": "Problem reported",
    "ussd.state.released": "Releasing",
    "ussd.state.paid_out": "Paid out",
    "ussd.state.refunding": "Refunding",
    "ussd.state.refunded": "Refunded",
    "ussd.state.settling": "Settling",
    "ussd.state.settled": "Settled",
    "ussd.state.declined": "Declined",
    "ussd.state.expired": "Expired",
    "ussd.state.cancelled": "Cancelled",
    "ussd.state.needs_review": "Under review",
    # what happens next, per state (and per reader where they differ)
    "ussd.next.requested.buyer": "Accept to get the M-Pesa prompt.",
    "ussd.next.requested.seller": "Waiting for the buyer to accept.",
    "ussd.next.awaiting_payment.buyer": "Pay to hold the money.",
    "ussd.next.awaiting_payment.seller": "The buyer has not paid yet.",
    "ussd.next.checking_payment": "We will SMS you the result.",
    "ussd.next.funded.buyer.waiting": "Waiting for the seller.",
    "ussd.next.funded.buyer": "Give code on receipt.",
    "ussd.next.funded.seller.waiting": "Accept, then deliver.",
    "ussd.next.funded.seller": "Deliver, then enter code.",
    "ussd.next.dispatched.buyer": "Give code on receipt.",
    "ussd.next.dispatched.seller": "Enter the code to be paid.",
    "ussd.next.disputed": "Zemi will call you.",
    "ussd.next.released": "The seller's payout is on its way.",
    "ussd.next.paid_out": "Done: the seller was paid.",
    "ussd.next.refunding": "The buyer's refund is on its way.",
    "ussd.next.refunded": "Done: the buyer was refunded.",
    "ussd.next.settling": "Both shares are on their way.",
    "ussd.next.settled": "Done: both shares were paid.",
    "ussd.next.declined": "The buyer declined. Nothing paid.",
    "ussd.next.expired": "Not paid in time. Nothing taken.",
    "ussd.next.cancelled": "Cancelled before payment.",
    "ussd.next.needs_review": "Payment did not match. Zemi will call.",
    "ussd.action.pay_now": "Pay now",
    "ussd.action.paybill": "Pay via Paybill",
    "ussd.action.confirm_delivery": "Enter delivery code",
    "ussd.action.report_problem": "Report a problem",
    "ussd.action.mark_dispatched": "Mark as sent",
    "ussd.action.cancel": "Cancel order",
    "ussd.action.accept": "Accept and pay",
    "ussd.action.decline": "Decline",
    "ussd.action.new_code": "Get a new code",
    "ussd.action.accept_order": "Accept order",
    "ussd.action.code_on_screen": "Show a new code here",
    "ussd.done.pay_now": "Order {ref}: an M-Pesa prompt for {charge} is coming. Enter your PIN to pay.",
    "ussd.done.paybill": "Pay with M-Pesa Paybill {paybill}, account {ref}, amount {charge}. "
                         "We will SMS you when it arrives.",
    "ussd.done.accept": "Accepted. An M-Pesa prompt for {charge} is coming for order {ref}. "
                        "Enter your PIN to pay.",
    "ussd.done.accept_order": "Order {ref} accepted. Deliver {item} to {party}, ask for the delivery "
                              "code and enter it here: you get {payout}.",
    "ussd.done.decline": "Request {ref} declined. The seller will be told by SMS.",
    "ussd.done.dispatched": "Order {ref} marked as sent. When you deliver, ask the buyer for the "
                            "delivery code and enter it here to be paid.",
    "ussd.done.cancel": "Order {ref} cancelled. Nothing was charged.",
    "ussd.done.cancel_paid": "Order {ref} cancelled. The buyer gets all {charge} back by M-Pesa, "
                             "and we SMS them why.",
    "ussd.done.new_code": "A new code was sent by SMS for order {ref}. The old code no longer works.",
    "ussd.done.code_on_screen": "Order {ref}: your new delivery code is {code}. Write it down: it is shown "
                                "once, not sent by SMS. Old codes no longer work.",
    "ussd.done.code_on_screen.replay": "Your new code was shown on this screen once and cannot be shown "
                                       "again. If you missed it, report a problem in My orders.",
    "ussd.done.accept_paybill": "Accepted. No M-Pesa prompt can reach this line: from an M-Pesa line pay "
                                "Paybill {paybill}, account {ref}, amount {charge}.",
    "ussd.done.dispute": "Problem reported on order {ref}. The money stays held. Zemi will call you "
                         "within 2 working days and SMS the decision.",
    "ussd.cancel.ask": "Cancel order {ref}\n{item}?\n1 Yes, cancel it\n2 No, keep it\n0 Back",
    "ussd.dispute.ask": "What is wrong with order {ref}?",
    "ussd.reason.not_received": "Not received",
    "ussd.reason.damaged": "Damaged",
    "ussd.reason.wrong_item": "Wrong item",
    "ussd.reason.other": "Something else",
    # delivery code
    "ussd.code.ask": "Enter the 6-digit delivery code",
    "ussd.code.confirm.seller": "Order {ref}: {item}\nRelease the money for it to you?\n"
                                "You get {payout}{payout_note}.\n1 Yes, release\n2 No\n0 Back",
    "ussd.code.confirm.buyer": "Order {ref}: {item}\nPay seller {party} for it?\n"
                               "They get {payout}{payout_note}.\n1 Yes, release\n2 No\n0 Back",
    "ussd.code.done": "Released. Seller {party} is being paid {payout} for order {ref}.",
    "ussd.code.done_seller": "Released. {payout} for order {ref} is on its way to your M-Pesa. "
                             "We will SMS the receipt.",
    "ussd.code.kept": "Not released. The money stays held until you confirm.",
    # language and help
    "ussd.language.ask": "Choose a language",
    "ussd.language.en": "English",
    "ussd.language.sw": "Kiswahili",
    "ussd.language.saved": "Language: English",
    "ussd.privacy": "Zemi keeps your number and orders. To erase your number, SMS ERASE to "
                    "{shortcode}.",
    "ussd.privacy.reply": "Zemi keeps your number and orders. To erase your number, reply ERASE "
                          "to a Zemi SMS.",
    "ussd.help": "Paybill {paybill}, account: the order number. Fee {fee_pct}% (min {fee_min}, max "
                 "{fee_max}), paid by the {payer}. Help: {support}",
    "ussd.help.shortcuts": "Shortcuts: add the menu numbers to the Zemi code before #: *3 My orders, "
                           "*3*order number for one order, *4 to enter a code.",
    "ussd.help.title": "Zemi holds the money until the buyer has the goods.",
    "ussd.help.menu.fees": "Fees and Paybill",
    "ussd.help.menu.shortcuts": "Dial shortcuts",
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
    "ussd.err.wrong_code": "Wrong code. Tries left: {remaining}.",
    "ussd.err.locked": "Too many wrong codes, so this code is locked. The buyer can get a new "
                       "code in My orders.",
    "ussd.err.locked_today": "Too many wrong codes from this number today. Code entry opens again "
                             "in 24 hours. Check the code with the buyer.",
    "ussd.err.seller_first": "The seller has not accepted order {ref} yet. The money can go only to "
                             "a seller who accepts it from their own phone.",
    "ussd.err.not_found": "No matching order was found. Please check My orders.",
    "ussd.err.not_allowed": "You cannot do that on this order.",
    "ussd.err.changed": "This order has changed. Please check My orders.",
    "ussd.err.limit": "Sorry, a limit was reached. Please try again later.",
    "ussd.err.limit.orders_per_hour": "Sorry, you reached the limit of {value} orders in an hour. "
                                      "Please try again within the hour.",
    "ussd.err.limit.stk_pushes_per_hour": "Sorry, you reached the limit of {value} M-Pesa prompts in an "
                                          "hour. Try again within the hour, or pay by Paybill.",
    "ussd.err.limit.daily_total_per_buyer": "Sorry, a buyer may pay at most {value} in 24 hours, and this "
                                            "would pass it. Try a smaller amount or wait a day.",
    "ussd.err.general": "Sorry, we could not do that. Please try again.",
    "ussd.err.busy": "Sorry, the service is busy. Please dial again in a moment.",
    "ussd.err.expired": "Your session has ended. Please dial again.",
    "ussd.err.too_long": "Sorry, that was too long to read. Please dial again.",
    "ussd.err.rate": "Too many requests from this number. Please wait a minute and dial again.",
}
