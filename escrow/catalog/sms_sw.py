"""SMS texts, Kiswahili. Same keys and placeholders as sms_en."""
MESSAGES = {
    "sms.code_to_buyer": "Zemi: KES {charge} ya {item} imehifadhiwa, oda {ref}. Msimbo wa kupokea: "
                         "{code}. Mpe muuzaji TU baada ya kupokea bidhaa.",
    "sms.held_to_seller": "Zemi: {item}, oda {ref}: KES {price} imehifadhiwa. Kubali: piga "
                          "{dial_order}, mpelekee {buyer} upate msimbo. Puuza SMS nyingine.",
    "sms.payout_to_seller": "Zemi: KES {payout} imetumwa kwa M-Pesa yako, oda {ref} ({item}). "
                            "Risiti ya M-Pesa {receipt}. Ada KES {fee}.",
    "sms.released_to_buyer": "Zemi: Oda {ref} ({item}) imekamilika. Muuzaji {seller} analipwa "
                             "KES {payout}; ada ya Zemi ni KES {fee}. Asante.",
    # majibu ya ujumbe uliotumwa kwa nambari yetu fupi
    "sms.help": "Zemi huhifadhi pesa hadi bidhaa ifike. Paybill {paybill}, akaunti: nambari ya oda. "
                "Ada {fee_pct}% (kati ya KES {fee_min} na {fee_max}), {fee_note}. Msaada: {support}",
    "sms.stopped": "Zemi: Vikumbusho vimezimwa kwa nambari hii. Bado utapokea ujumbe wa malipo na "
                   "bidhaa. Tuma MSAADA kupata msaada.",
    # ERASE / FUTA (escrow/privacy/erasure.py): kwanza nambari ya kuthibitisha
    "sms.erasure_confirm": "Zemi: Kufuta nambari yako, jibu {word} {code} ndani ya saa 24. Kama hukuomba, "
                           "puuza SMS hii: hakuna kitakachofutwa.",
    "sms.erasure_now": "Zemi: Tunafuta nambari yako sasa. Oda zako za awali zinabaki bila nambari hiyo. "
                       "Hutapokea SMS zaidi kutoka kwetu. Piga {ussd_code} kuanza upya.",
    "sms.erasure_later": "Zemi: Una oda zinazoendelea. Nambari yako itafutwa oda ya mwisho ikikamilika; "
                         "hadi hapo utaendelea kupokea SMS kuzihusu.",
    # malipo
    "sms.payment_failed": "Zemi: Oda {ref} haikulipwa: {reason}. Jaribu tena: piga {dial_order} au "
                          "Paybill {paybill}, akaunti {ref}.",
    "sms.payment_request_to_buyer": "Zemi: {seller} anakuomba ulipe KES {charge} kwa {item}, oda "
                                    "{ref}. Inahifadhiwa hadi upokee. Piga {dial_order} kukubali "
                                    "au kukataa.",
    # kiungo cha kulipa ombi (escrow/payment_links.py): SMS ya mnunuzi ikitosha ujumbe mmoja
    "sms.payment_link_to_buyer": "Zemi: {seller} anaomba KES {charge} kwa {item}, oda {ref}. "
                                 "Inahifadhiwa hadi upokee. Lipa: {link}",
    "sms.pay_link_to_seller": "Zemi: Ombi {ref} la {item}, KES {charge} limetumwa kwa mnunuzi kwa SMS. "
                              "Lifuatilie hapa: {link}",
    "sms.request_declined_to_seller": "Zemi: {buyer} amekataa ombi lako la KES {charge} kwa {item}, "
                                      "oda {ref}. Hakuna pesa iliyotozwa.",
    "sms.order_expired": "Zemi: Oda {ref} ya {item} imeisha muda kwa sababu haikulipwa kwa wakati. "
                         "Hakuna pesa iliyotozwa. Unaweza kuanza oda mpya wakati wowote.",
    "sms.order_cancelled": "Zemi: Oda {ref} ya {item} imeghairiwa. Usitume bidhaa. Pesa yoyote "
                           "iliyolipwa inarudishwa kwa mnunuzi.",
    "sms.refund_seller_cancelled": "Zemi: Muuzaji {seller} ameghairi oda {ref} ({item}). KES {amount} "
                                   "zote ulizolipa, pamoja na ada, zinarudishwa kwa M-Pesa yako.",
    "sms.refund_not_dispatched": "Zemi: Muuzaji {seller} hakukubali wala kutuma {item} (oda {ref}) kwa "
                                 "wakati. KES {amount} zote ulizolipa, pamoja na ada, zinarudishwa.",
    "sms.payment_returned": "Zemi: Hatukuweza kutumia malipo yako ya KES {amount} kwa oda {ref}. "
                            "Yanarudishwa kwa M-Pesa yako.",
    # kurudisha pesa
    "sms.refund_queued": "Zemi: Pesa ya oda {ref} inarudishwa. KES {amount} itatumwa kwa M-Pesa yako "
                         "hivi karibuni. Tutakutumia risiti kwa SMS.",
    "sms.refund_sent": "Zemi: KES {amount} ya oda {ref} imerudishwa kwa M-Pesa yako. "
                       "Risiti ya M-Pesa {receipt}.",
    # kupokea bidhaa
    "sms.dispatched_to_buyer": "Zemi: {item} (oda {ref}) imetumwa. Mpe muuzaji msimbo wako wa kupokea "
                               "TU ukiipata. Ripoti tatizo lolote kabla ya {deadline}.",
    "sms.code_locked_to_buyer": "Zemi: Misimbo mingi isiyo sahihi iliwekwa kwa oda {ref}, hivyo msimbo "
                                "huo haufanyi kazi. Kupata mpya piga {dial_order}, chagua Pata msimbo mpya.",
    "sms.new_code_to_buyer": "Zemi: Msimbo wako mpya wa kupokea kwa oda {ref} ni {code}. Misimbo ya "
                             "awali haifanyi kazi. Mpe muuzaji TU baada ya kupokea bidhaa.",
    # malalamiko
    "sms.dispute_opened": "Zemi: Mnunuzi ameripoti tatizo kwa oda {ref} ({item}): {problem}. Pesa "
                          "imehifadhiwa. Zemi itakupigia ndani ya siku 2 za kazi.",
    "sms.dispute_received": "Zemi: Tumepokea ripoti yako ya oda {ref} ({item}). Pesa inabaki "
                            "imehifadhiwa. Zemi itakupigia ndani ya siku 2 za kazi, kisha itatuma uamuzi.",
    # uamuzi wa msimamizi, ujumbe mmoja kwa kila uamuzi (wote wawili huupata)
    "sms.dispute_released": "Zemi: Uamuzi kuhusu oda {ref} ({item}): muuzaji analipwa KES {payout} na "
                            "mnunuzi harudishiwi pesa. Pesa unayostahili inatumwa kwa M-Pesa yako.",
    "sms.dispute_refunded": "Zemi: Uamuzi kuhusu oda {ref} ({item}): mnunuzi anarudishiwa KES {amount} "
                            "yote na muuzaji halipwi. Pesa unayostahili inatumwa kwa M-Pesa yako.",
    "sms.dispute_split": "Zemi: Uamuzi kuhusu oda {ref} ({item}): muuzaji anapata KES {to_seller}, "
                         "mnunuzi anarudishiwa KES {to_buyer}. Ada ya KES {fee} inalipwa na {payer}.",
    # vikumbusho (STOP au ACHA huvizima)
    "sms.reminder_to_pay": "Zemi: Oda {ref} ya {item} bado haijalipwa na itaisha baada ya dakika "
                           "{minutes}. Kubali ombi la M-Pesa kulipa. Tuma ACHA kusitisha vikumbusho.",
    "sms.reminder_to_pay_paybill": "Zemi: Oda {ref} ya {item} bado haijalipwa na itaisha baada ya dakika "
                                   "{minutes}. Lipa kwa Paybill {paybill}, akaunti {ref}. Tuma ACHA kusitisha.",
    "sms.reminder_to_dispatch": "Zemi: Oda {ref} ({item}) imelipwa. Itume na uchague Nimetuma "
                                "(piga {dial_order}) la sivyo mnunuzi atarudishiwa {deadline}.",
    "sms.reminder_to_confirm": "Zemi: Umepokea {item} (oda {ref})? Mpe muuzaji msimbo wako. Ripoti "
                               "tatizo kabla ya {deadline}, la sivyo muuzaji atalipwa wakati huo.",
    "sms.verification_code": "Zemi: {code} ni msimbo wako wa kuruhusu programu kutumia Zemi kwa nambari "
                             "hii. Inafanya kazi dakika {minutes}. Usimpe mpigaji yeyote.",
    # vipande vinavyojazwa katika ujumbe, kwa lugha ya msomaji
    "sms.reason.not_received": "haijafika",
    "sms.reason.damaged": "imeharibika",
    "sms.reason.wrong_item": "si bidhaa sahihi",
    "sms.reason.other": "tatizo jingine",
    "sms.party.seller": "muuzaji",
    "sms.party.buyer": "mnunuzi",
    # why an M-Pesa payment prompt failed: the {reason} of sms.payment_failed
    "sms.stk_reason.cancelled": "ulighairi ombi la M-Pesa",
    "sms.stk_reason.unreachable": "simu yako haikupatikana",
    "sms.stk_reason.insufficient_funds": "salio lako la M-Pesa halikutosha",
    "sms.stk_reason.wrong_pin": "PIN ya M-Pesa haikuwa sahihi",
    "sms.stk_reason.busy": "laini yako ilikuwa na muamala mwingine",
    "sms.stk_reason.too_soon": "malipo sawa yamefanywa punde; subiri dakika 2",
    "sms.stk_reason.expired": "muda wa ombi la M-Pesa uliisha",
    "sms.stk_reason.other": "M-Pesa haikukamilisha malipo",
}
