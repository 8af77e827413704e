"""USSD screens, Kiswahili. Same keys and placeholders as ussd_en; same 160-character budget."""
MESSAGES: dict[str, str] = {
    # navigation
    "ussd.main": "Zemi Escrow",
    "ussd.menu.pay": "Lipa muuzaji",
    "ussd.menu.request": "Omba malipo",
    "ussd.menu.orders": "Oda zangu",
    "ussd.menu.code": "Weka nambari ya kupokea",
    "ussd.menu.language": "Lugha",
    "ussd.menu.help": "Msaada",
    "ussd.nav": "0 Rudi 00 Mwanzo",
    "ussd.nav.more": "98 Zaidi 0 Rudi 00 Mwanzo",
    "ussd.resume.ask": "Hukumaliza: {task}.\nEndelea ulipoachia?\n1 Ndiyo\n2 Anza upya",
    "ussd.task.pay": "Lipa muuzaji",
    "ussd.task.request": "Omba malipo",
    "ussd.task.code": "Weka nambari ya kupokea",
    # pay a seller
    "ussd.pay.seller": "Weka nambari ya M-Pesa ya muuzaji",
    "ussd.ask.amount": "Weka kiasi kwa KES\n({min} hadi {max})",
    "ussd.pay.item": "Unanunua nini?\n(kwa ufupi, herufi 20 au chini)",
    "ussd.pay.summary": "Lipa {party}\nBidhaa: {item}\nBei: {price}\nAda: {fee} ({fee_note})\n"
                        "Utalipa: {charge}\n1 Thibitisha\n2 Ghairi\n0 Rudi",
    "ussd.pay.done": "Oda {ref} imeundwa. Utapokea ombi la M-Pesa la {charge}. "
                     "Weka PIN yako kulipa.",
    "ussd.fee_by.seller": "analipa muuzaji",
    "ussd.fee_by.buyer": "analipa mnunuzi",
    "ussd.cancelled": "Imeghairiwa. Hakuna pesa iliyotozwa.",
    # request a payment
    "ussd.req.buyer": "Weka nambari ya M-Pesa ya mnunuzi",
    "ussd.req.item": "Unauza nini?\n(kwa ufupi, herufi 20 au chini)",
    "ussd.req.summary": "Omba {party} alipe\nBidhaa: {item}\nBei: {price}\nAda: {fee} ({fee_note})\n"
                        "Utapata: {payout}\n1 Thibitisha\n2 Ghairi\n0 Rudi",
    "ussd.req.done": "Ombi {ref} limetumwa. Mnunuzi atapata SMS ya kukubali na kulipa {charge}. "
                     "Tutakutumia SMS akilipa.",
    # my orders
    "ussd.orders.row": "{n} {ref} {item} {state}",
    "ussd.orders.none": "Bado huna oda yoyote.",
    "ussd.order.detail": "{ref} {item}\n{price} {state}\n{party_line}",
    "ussd.order.as_buyer": "Unanunua kwa {party}",
    "ussd.order.as_seller": "Unamuuzia {party}",
    "ussd.state.awaiting_payment": "Haijalipwa",
    "ussd.state.checking_payment": "Malipo yanakaguliwa",
    "ussd.state.funded": "Imeshikwa",
    "ussd.state.released": "Imetolewa",
    "ussd.state.paid_out": "Imelipwa",
    "ussd.state.expired": "Imeisha",
    "ussd.state.cancelled": "Imeghairiwa",
    "ussd.state.needs_review": "Inakaguliwa",
    "ussd.state.other": "Wazi",
    "ussd.action.pay_now": "Lipa sasa",
    "ussd.action.paybill": "Lipa kwa Paybill",
    "ussd.action.confirm_delivery": "Nambari ya kupokea",
    "ussd.action.report_problem": "Ripoti tatizo",
    "ussd.action.mark_dispatched": "Nimetuma bidhaa",
    "ussd.action.cancel": "Ghairi oda",
    "ussd.action.accept": "Kubali na ulipe",
    "ussd.action.decline": "Kataa",
    "ussd.action.new_code": "Pata nambari mpya",
    "ussd.done.pay_now": "Oda {ref}: ombi la M-Pesa la {charge} linakuja. Weka PIN yako kulipa.",
    "ussd.done.paybill": "Lipa kwa M-Pesa Paybill {paybill}, akaunti {ref}, kiasi {charge}. "
                         "Tutakutumia SMS tukipokea.",
    "ussd.done.accept": "Umekubali. Ombi la M-Pesa la {charge} linakuja kwa oda {ref}. "
                        "Weka PIN yako kulipa.",
    "ussd.done.decline": "Ombi {ref} limekataliwa. Muuzaji atajulishwa kwa SMS.",
    "ussd.done.dispatched": "Oda {ref} imewekwa kuwa imetumwa. Utalipwa mnunuzi akikupa "
                            "nambari ya kupokea.",
    "ussd.done.cancel": "Oda {ref} imeghairiwa. Hakuna pesa itakayotozwa.",
    "ussd.done.new_code": "Nambari mpya ya oda {ref} imetumwa kwa SMS. Nambari ya zamani "
                          "haitumiki tena.",
    "ussd.done.dispute": "Tatizo la oda {ref} limeripotiwa. Pesa itabaki imeshikiliwa. "
                         "Huduma kwa wateja watakupigia.",
    "ussd.cancel.ask": "Ghairi oda {ref}\n{item}?\n1 Ndiyo, ighairi\n2 Hapana, iache\n0 Rudi",
    "ussd.dispute.ask": "Oda {ref} ina tatizo gani?",
    "ussd.reason.not_received": "Sijapokea",
    "ussd.reason.damaged": "Imeharibika",
    "ussd.reason.wrong_item": "Bidhaa si sahihi",
    "ussd.reason.other": "Tatizo lingine",
    # delivery code
    "ussd.code.ask": "Weka nambari ya kupokea (tarakimu 6)",
    "ussd.code.confirm": "Oda {ref}\n{item}\n{price}\nToa pesa kwa muuzaji?\n"
                         "1 Thibitisha\n2 Ghairi\n0 Rudi",
    "ussd.code.done": "Imetolewa. Muuzaji analipwa {payout} kwa oda {ref}.",
    "ussd.code.kept": "Haijatolewa. Pesa itabaki imeshikiliwa hadi uthibitishe.",
    # language and help
    "ussd.language.ask": "Chagua lugha",
    "ussd.language.en": "English",
    "ussd.language.sw": "Kiswahili",
    "ussd.language.saved": "Lugha: Kiswahili",
    "ussd.help": "Zemi hushikilia pesa yako hadi bidhaa ifike. Paybill {paybill}. Ada {fee_pct}% "
                 "(chini {fee_min}, juu {fee_max}), analipa {payer}. Msaada: {support}",
    "ussd.party.seller": "muuzaji",
    "ussd.party.buyer": "mnunuzi",
    # problems
    "ussd.err.choice": "Chaguo si sahihi.",
    "ussd.err.phone": "Nambari si sahihi. Tumia 07.., 01.. au +254..",
    "ussd.err.self": "Huwezi kutumia nambari yako mwenyewe.",
    "ussd.err.amount": "Weka kiasi kamili kwa KES, tarakimu tu.",
    "ussd.err.range": "Kiasi kiwe kati ya {min} na {max}.",
    "ussd.err.item": "Tafadhali andika maelezo mafupi.",
    "ussd.err.code_format": "Nambari ina tarakimu 6.",
    "ussd.err.wrong_code": "Nambari si sahihi. Majaribio {remaining} yamebaki.",
    "ussd.err.locked": "Umekosea nambari mara nyingi, kwa hiyo imefungwa. Mnunuzi anaweza "
                       "kupata nambari mpya kwenye Oda zangu.",
    "ussd.err.not_found": "Hakuna oda inayolingana. Tafadhali angalia Oda zangu.",
    "ussd.err.not_allowed": "Huwezi kufanya hivyo kwa oda hii.",
    "ussd.err.changed": "Oda hii imebadilika. Tafadhali angalia Oda zangu.",
    "ussd.err.limit": "Samahani, kikomo kimefikiwa. Tafadhali jaribu tena baadaye.",
    "ussd.err.general": "Samahani, hatukuweza kufanya hivyo. Tafadhali jaribu tena.",
    "ussd.err.busy": "Samahani, huduma ina shughuli nyingi. Tafadhali piga tena baada ya muda mfupi.",
    "ussd.err.expired": "Kipindi chako kimeisha. Tafadhali piga tena.",
    "ussd.err.too_long": "Samahani, ujumbe ni mrefu mno. Tafadhali piga tena.",
    "ussd.err.rate": "Maombi mengi mno kutoka nambari hii. Subiri dakika moja kisha upige tena.",
}
