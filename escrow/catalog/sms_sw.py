"""SMS texts, Kiswahili. Same keys and placeholders as sms_en."""
MESSAGES = {
    "sms.code_to_buyer": "Zemi: KES {charge} ya {item} imehifadhiwa, oda {ref}. Nambari ya kupokea: "
                         "{code}. Mpe muuzaji TU baada ya kupokea bidhaa.",
    "sms.held_to_seller": "Zemi: KES {price} ya {item} imehifadhiwa, oda {ref}. Mpelekee {buyer} "
                          "na uombe nambari. Usitume kwa SMS nyingine yoyote.",
    "sms.payout_to_seller": "Zemi: KES {payout} imetumwa kwa M-Pesa yako, oda {ref} ({item}). "
                            "Risiti ya M-Pesa {receipt}. Ada KES {fee}.",
    "sms.released_to_buyer": "Zemi: Umethibitisha kupokea {item}, oda {ref}. KES {payout} "
                             "inalipwa kwa muuzaji. Asante.",
}
