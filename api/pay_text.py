"""The pay page's words, English and Kiswahili."""
TEXT = {
    "en": {
        "title": "Pay with Zemi escrow", "asks": "{seller} asks you to pay for", "item": "Item",
        "price": "Price", "fee": "Zemi fee", "total": "You pay", "kes": "KES",
        "protect": "Zemi holds your money until you have the goods. The seller is paid only when you give "
                   "them the delivery code we send you by SMS.",
        "protect2": "If something goes wrong, report a problem and the payment is frozen until we decide.",
        "phone_label": "Your M-Pesa number", "pay": "Send the M-Pesa prompt", "pay_again": "Send the prompt again",
        "decline": "Decline this request", "prompt_to": "We will send the M-Pesa prompt to {phone}.",
        "sent": "A prompt was sent to {phone}. Enter your M-Pesa PIN on your phone.",
        "checking": "We are checking your payment with M-Pesa. This page refreshes by itself.",
        "funded": "Paid. KES {charge} is held by Zemi. Your delivery code went by SMS to {phone}: give it to "
                  "the seller only when you have the goods.",
        "done": "This order is {state}.", "expired": "This link has expired. No money was taken.",
        "declined": "You declined this request. No money was taken.",
        "refresh": "Refresh", "order": "Order", "lang": "Kiswahili", "refused": "Not sent: {reason}",
        "buyer_answers": "Only the buyer, {phone}, can accept this request: from the link we sent to that number "
                         "by SMS, or by dialling {dial}.",
        "bad_phone": "That is not a Kenyan M-Pesa number.", "gone": "This payment link does not exist.",
        "stale": "Nothing was sent: this page was out of date. Check the details and press the button again.",
    },
    "sw": {
        "title": "Lipa kupitia Zemi", "asks": "{seller} anakuomba ulipie", "item": "Bidhaa",
        "price": "Bei", "fee": "Ada ya Zemi", "total": "Utalipa", "kes": "KES",
        "protect": "Zemi inashikilia pesa yako hadi upokee bidhaa. Muuzaji analipwa tu ukimpa nambari ya "
                   "kupokea tunayokutumia kwa SMS.",
        "protect2": "Kukiwa na tatizo, ripoti na malipo yatasimamishwa hadi tuamue.",
        "phone_label": "Nambari yako ya M-Pesa", "pay": "Tuma ombi la M-Pesa", "pay_again": "Tuma ombi tena",
        "decline": "Kataa ombi hili", "prompt_to": "Tutatuma ombi la M-Pesa kwa {phone}.",
        "sent": "Ombi limetumwa kwa {phone}. Weka PIN yako ya M-Pesa kwenye simu.",
        "checking": "Tunathibitisha malipo yako na M-Pesa. Ukurasa huu utajisasisha.",
        "funded": "Umelipa. KES {charge} imeshikiliwa na Zemi. Nambari yako ya kupokea imetumwa kwa SMS kwa "
                  "{phone}: mpe muuzaji tu ukipokea bidhaa.",
        "done": "Oda hii iko katika hali: {state}.", "expired": "Kiungo hiki kimeisha muda. Hakuna pesa iliyochukuliwa.",
        "declined": "Umekataa ombi hili. Hakuna pesa iliyochukuliwa.",
        "refresh": "Sasisha", "order": "Oda", "lang": "English", "refused": "Halijatumwa: {reason}",
        "buyer_answers": "Ni mnunuzi tu, {phone}, anayeweza kukubali ombi hili: kupitia kiungo tulichotuma kwa "
                         "nambari hiyo kwa SMS, au kwa kupiga {dial}.",
        "bad_phone": "Hiyo si nambari ya M-Pesa ya Kenya.", "gone": "Kiungo hiki cha malipo hakipo.",
        "stale": "Hakuna kilichotumwa: ukurasa huu ulikuwa wa zamani. Angalia maelezo na ubonyeze kitufe tena.",
    },
}
