"""USSD screens, Kiswahili. Same keys and placeholders as ussd_en; same 160-character budget.

Terms follow escrow.catalog.GLOSSARY: "nambari" is a phone number only; the delivery code is
"msimbo wa kupokea"; money Zemi keeps is "imehifadhiwa".
"""
MESSAGES: dict[str, str] = {
    # navigation
    "ussd.main": "Zemi Escrow",
    "ussd.welcome": "Karibu! For English, choose 5.",
    "ussd.menu.pay": "Lipa muuzaji",
    "ussd.menu.request": "Omba malipo",
    "ussd.menu.orders": "Oda zangu",
    "ussd.menu.code": "Weka msimbo wa kupokea",
    "ussd.menu.language": "Lugha",
    "ussd.menu.help": "Msaada",
    "ussd.nav": "0 Rudi 00 Mwanzo",
    "ussd.nav.more": "98 Zaidi 0 Rudi 00 Mwanzo",
    "ussd.resume.ask": "Hujamaliza: {task}.\nUendelee ulipoishia?\n1 Ndiyo\n2 Anza upya",
    "ussd.task.pay": "Lipa muuzaji",
    "ussd.task.request": "Omba malipo",
    "ussd.task.code": "Weka msimbo wa kupokea",
    # pay a seller
    "ussd.pay.seller": "{network_note}Weka nambari ya M-Pesa ya muuzaji",
    "ussd.pay.not_mpesa_line": "Laini hii si ya Safaricom: ombi la M-Pesa haliwezi kuifikia. Utalipa "
                               "kwa Paybill kutoka laini ya M-Pesa.\n",
    "ussd.pay.check_seller": "{party} si nambari ya Safaricom, huenda haina M-Pesa. "
                             "Ulipe hata hivyo?\n1 Ndiyo, endelea\n2 Badilisha nambari\n0 Rudi",
    "ussd.pay.done_paybill": "Oda {ref} imeundwa. Ombi la M-Pesa haliwezi kufikia laini hii: kutoka laini "
                             "ya M-Pesa lipa Paybill {paybill}, akaunti {ref}, kiasi {charge}.",
    "ussd.ask.amount": "Weka kiasi kwa KES\n({min} hadi {max})",
    "ussd.pay.item": "Unanunua nini?\n(kwa ufupi, herufi 20 au chini)",
    "ussd.pay.summary": "Lipa {party}\nBidhaa: {item}\nBei: {price}\nAda: {fee} ({fee_note})\n"
                        "Utalipa: {charge}{charge_note}\n1 Ndiyo\n2 Ghairi\n0 Rudi",
    "ussd.pay.done": "Oda {ref} imeundwa. Utapokea ombi la M-Pesa la {charge}. "
                     "Weka PIN yako kulipa.",
    "ussd.fee_by.seller": "muuzaji analipa",
    "ussd.fee_by.buyer": "mnunuzi analipa",
    "ussd.with_fee": " na ada",
    "ussd.after_fee": " kasoro ada",
    "ussd.less_fee": " ({price} kasoro ada {fee})",
    "ussd.cancelled": "Imeghairiwa. Hakuna pesa iliyotozwa.",
    # request a payment
    "ussd.req.buyer": "Weka nambari ya M-Pesa ya mnunuzi",
    "ussd.req.item": "Unauza nini?\n(kwa ufupi, herufi 20 au chini)",
    "ussd.req.summary": "Omba {party} alipe\nBidhaa: {item}\nBei: {price}\nAda: {fee} ({fee_note})\n"
                        "Utapata: {payout}{payout_note}\n1 Ndiyo\n2 Ghairi\n0 Rudi",
    "ussd.req.done": "Ombi {ref} limetumwa. Mnunuzi atapata SMS ya kukubali na kulipa {charge}. "
                     "Tutakutumia SMS akilipa.",
    # my orders
    "ussd.orders.row": "{n} {item} ({state})",
    "ussd.orders.none": "Bado huna oda yoyote.",
    "ussd.order.detail": "{ref} {item}\n{state}: {price}\n{party_line}{next}",
    "ussd.order.as_buyer": "Muuzaji: {party}",
    "ussd.order.as_seller": "Mnunuzi: {party}",
    # neno moja kwa kila hali, sawa kwenye orodha na kwenye oda
    "ussd.state.requested": "Imeombwa",
    "ussd.state.awaiting_payment": "Haijalipwa",
    "ussd.state.checking_payment": "Malipo yanakaguliwa",
    "ussd.state.funded": "Imehifadhiwa",
    "ussd.state.dispatched": "Imetumwa",
    "ussd.state.disputed": "Tatizo limeripotiwa",
    "ussd.state.released": "Muuzaji analipwa",
    "ussd.state.paid_out": "Muuzaji amelipwa",
    "ussd.state.refunding": "Inarudishwa",
    "ussd.state.refunded": "Imerudishwa",
    "ussd.state.settling": "Inagawanywa",
    "ussd.state.settled": "Imegawanywa",
    "ussd.state.declined": "Imekataliwa",
    "ussd.state.expired": "Muda umeisha",
    "ussd.state.cancelled": "Imeghairiwa",
    "ussd.state.needs_review": "Inakaguliwa",
    # kinachofuata, kwa kila hali (na kwa kila msomaji inapotofautiana)
    "ussd.next.requested.buyer": "Kubali upate ombi la M-Pesa.",
    "ussd.next.requested.seller": "Tunasubiri mnunuzi akubali.",
    "ussd.next.awaiting_payment.buyer": "Lipa ili pesa ihifadhiwe.",
    "ussd.next.awaiting_payment.seller": "Mnunuzi bado hajalipa.",
    "ussd.next.checking_payment": "Tutakutumia SMS ya jibu.",
    "ussd.next.funded.buyer.waiting": "Muuzaji bado hajakubali.",
    "ussd.next.funded.buyer": "Mpe msimbo ukipokea tu.",
    "ussd.next.funded.seller.waiting": "Kubali, kisha peleka.",
    "ussd.next.funded.seller": "Peleka, kisha weka msimbo.",
    "ussd.next.dispatched.buyer": "Mpe msimbo ukipokea tu.",
    "ussd.next.dispatched.seller": "Weka msimbo ulipwe.",
    "ussd.next.disputed": "Zemi itakupigia.",
    "ussd.next.released": "Malipo ya muuzaji yanatumwa.",
    "ussd.next.paid_out": "Imekamilika: muuzaji amelipwa.",
    "ussd.next.refunding": "Pesa ya mnunuzi inarudishwa.",
    "ussd.next.refunded": "Imekamilika: mnunuzi amerudishiwa.",
    "ussd.next.settling": "Sehemu zote mbili zinatumwa.",
    "ussd.next.settled": "Imekamilika: sehemu zote zimelipwa.",
    "ussd.next.declined": "Mnunuzi alikataa. Hakuna aliyelipa.",
    "ussd.next.expired": "Haikulipwa kwa wakati. Hakuna pesa iliyotozwa.",
    "ussd.next.cancelled": "Ilighairiwa kabla ya malipo.",
    "ussd.next.needs_review": "Malipo hayakulingana. Zemi itakupigia.",
    "ussd.action.pay_now": "Lipa sasa",
    "ussd.action.paybill": "Lipa kwa Paybill",
    "ussd.action.confirm_delivery": "Weka msimbo",
    "ussd.action.report_problem": "Ripoti tatizo",
    "ussd.action.mark_dispatched": "Nimetuma bidhaa",
    "ussd.action.cancel": "Ghairi oda",
    "ussd.action.accept": "Kubali na ulipe",
    "ussd.action.decline": "Kataa",
    "ussd.action.new_code": "Pata msimbo mpya",
    "ussd.action.accept_order": "Kubali oda",
    "ussd.action.code_on_screen": "Onyesha msimbo mpya hapa",
    "ussd.done.pay_now": "Oda {ref}: ombi la M-Pesa la {charge} linakuja. Weka PIN yako kulipa.",
    "ussd.done.paybill": "Lipa kwa M-Pesa Paybill {paybill}, akaunti {ref}, kiasi {charge}. "
                         "Tutakutumia SMS tukipokea.",
    "ussd.done.accept": "Umekubali. Ombi la M-Pesa la {charge} linakuja kwa oda {ref}. "
                        "Weka PIN yako kulipa.",
    "ussd.done.accept_order": "Umekubali oda {ref}. Mpelekee {party} {item}, omba msimbo wa kupokea "
                              "na uuweke hapa: utapata {payout}.",
    "ussd.done.decline": "Ombi {ref} limekataliwa. Muuzaji atajulishwa kwa SMS.",
    "ussd.done.dispatched": "Umeweka oda {ref} kuwa umeituma. Ukifikisha, omba msimbo wa kupokea "
                            "kwa mnunuzi na uuweke hapa ulipwe.",
    "ussd.done.cancel": "Oda {ref} imeghairiwa. Hakuna pesa iliyotozwa.",
    "ussd.done.cancel_paid": "Oda {ref} imeghairiwa. Mnunuzi anarudishiwa {charge} zote kwa M-Pesa, "
                             "na tunamtumia SMS kueleza.",
    "ussd.done.new_code": "Msimbo mpya wa oda {ref} umetumwa kwa SMS. Msimbo wa zamani "
                          "haufanyi kazi tena.",
    "ussd.done.code_on_screen": "Oda {ref}: msimbo wako mpya wa kupokea ni {code}. Uandike: unaonyeshwa "
                                "mara moja tu, hautumwi kwa SMS. Misimbo ya zamani haifanyi kazi.",
    "ussd.done.code_on_screen.replay": "Msimbo wako mpya ulionyeshwa hapa mara moja na hauwezi kuonyeshwa "
                                       "tena. Kama hukuuona, ripoti tatizo katika Oda zangu.",
    "ussd.done.accept_paybill": "Umekubali. Ombi la M-Pesa haliwezi kufikia laini hii: kutoka laini ya "
                                "M-Pesa lipa Paybill {paybill}, akaunti {ref}, kiasi {charge}.",
    "ussd.done.dispute": "Tatizo la oda {ref} limeripotiwa. Pesa inabaki imehifadhiwa. Zemi "
                         "itakupigia ndani ya siku 2 za kazi na kutuma uamuzi.",
    "ussd.cancel.ask": "Ghairi oda {ref}\n{item}?\n1 Ndiyo, ighairi\n2 Hapana, iache\n0 Rudi",
    "ussd.dispute.ask": "Oda {ref} ina tatizo gani?",
    "ussd.reason.not_received": "Sijapokea",
    "ussd.reason.damaged": "Imeharibika",
    "ussd.reason.wrong_item": "Bidhaa si sahihi",
    "ussd.reason.other": "Tatizo jingine",
    # msimbo wa kupokea
    "ussd.code.ask": "Weka msimbo wa kupokea (tarakimu 6)",
    "ussd.code.confirm.seller": "Oda {ref}: {item}\nUtoe pesa yake kwako?\n"
                                "Utapata {payout}{payout_note}.\n1 Ndiyo, toa\n2 Hapana\n0 Rudi",
    "ussd.code.confirm.buyer": "Oda {ref}: {item}\nUmlipe muuzaji {party}?\n"
                               "Atapata {payout}{payout_note}.\n1 Ndiyo, toa\n2 Hapana\n0 Rudi",
    "ussd.code.done": "Imetolewa. Muuzaji {party} analipwa {payout} kwa oda {ref}.",
    "ussd.code.done_seller": "Imetolewa. {payout} ya oda {ref} inatumwa kwa M-Pesa yako. "
                             "Tutakutumia risiti kwa SMS.",
    "ussd.code.kept": "Haijatolewa. Pesa inabaki imehifadhiwa hadi uthibitishe.",
    # language and help
    "ussd.language.ask": "Chagua lugha",
    "ussd.language.en": "English",
    "ussd.language.sw": "Kiswahili",
    "ussd.language.saved": "Lugha: Kiswahili",
    "ussd.privacy": "Zemi huhifadhi nambari na oda zako. Kufuta nambari yako, tuma SMS FUTA kwa "
                    "{shortcode}.",
    "ussd.privacy.reply": "Zemi huhifadhi nambari na oda zako. Kufuta nambari yako, jibu SMS ya Zemi "
                          "kwa neno FUTA.",
    "ussd.help": "Paybill {paybill}, akaunti: nambari ya oda. Ada {fee_pct}% (angalau {fee_min}, "
                 "isizidi {fee_max}), {payer} analipa. Msaada: {support}",
    "ussd.help.shortcuts": "Njia za mkato: ongeza nambari za menyu kwenye msimbo wa Zemi kabla ya #: "
                           "*3 Oda zangu, *3*nambari ya oda, *4 kuweka msimbo.",
    "ussd.help.title": "Zemi huhifadhi pesa hadi mnunuzi apate bidhaa.",
    "ussd.help.menu.fees": "Ada na Paybill",
    "ussd.help.menu.shortcuts": "Njia za mkato",
    "ussd.party.seller": "muuzaji",
    "ussd.party.buyer": "mnunuzi",
    # problems
    "ussd.err.choice": "Chaguo si sahihi.",
    "ussd.err.phone": "Nambari si sahihi. Tumia 07.., 01.. au +254..",
    "ussd.err.self": "Huwezi kutumia nambari yako mwenyewe.",
    "ussd.err.amount": "Weka kiasi kamili kwa KES, tarakimu tu.",
    "ussd.err.range": "Kiasi kiwe kati ya {min} na {max}.",
    "ussd.err.item": "Tafadhali andika maelezo mafupi.",
    "ussd.err.code_format": "Msimbo una tarakimu 6.",
    "ussd.err.wrong_code": "Msimbo si sahihi. Nafasi zilizobaki: {remaining}.",
    "ussd.err.locked": "Misimbo mingi isiyo sahihi, kwa hiyo msimbo huu umefungwa. Mnunuzi anaweza "
                       "kupata msimbo mpya kwenye Oda zangu.",
    "ussd.err.locked_today": "Misimbo mingi isiyo sahihi kutoka nambari hii leo. Utaweza tena baada "
                             "ya saa 24. Hakikisha msimbo na mnunuzi.",
    "ussd.err.seller_first": "Muuzaji bado hajakubali oda {ref}. Pesa inaweza kwenda tu kwa muuzaji "
                             "aliyeikubali kwa simu yake mwenyewe.",
    "ussd.err.not_found": "Hakuna oda inayolingana. Tafadhali angalia Oda zangu.",
    "ussd.err.not_allowed": "Huwezi kufanya hivyo kwa oda hii.",
    "ussd.err.changed": "Oda hii imebadilika. Tafadhali angalia Oda zangu.",
    "ussd.err.limit": "Samahani, kikomo kimefikiwa. Tafadhali jaribu tena baadaye.",
    "ussd.err.limit.orders_per_hour": "Samahani, umefikia kikomo cha oda {value} kwa saa. Tafadhali "
                                      "jaribu tena ndani ya saa moja.",
    "ussd.err.limit.stk_pushes_per_hour": "Samahani, umefikia kikomo cha maombi {value} ya M-Pesa kwa "
                                          "saa. Jaribu tena ndani ya saa moja, au lipa kwa Paybill.",
    "ussd.err.limit.daily_total_per_buyer": "Samahani, mnunuzi anaweza kulipa hadi {value} kwa saa 24, "
                                            "na hii ingezidi. Jaribu kiasi kidogo au subiri siku moja.",
    "ussd.err.general": "Samahani, hatukuweza kufanya hivyo. Tafadhali jaribu tena.",
    "ussd.err.busy": "Samahani, huduma ina shughuli nyingi. Tafadhali piga tena baada ya muda mfupi.",
    "ussd.err.expired": "Kipindi chako kimeisha. Tafadhali piga tena.",
    "ussd.err.too_long": "Samahani, ujumbe ni mrefu mno. Tafadhali piga tena.",
    "ussd.err.rate": "Maombi mengi mno kutoka nambari hii. Subiri dakika moja kisha upige tena.",
}
