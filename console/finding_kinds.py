"""What each finding kind means and what a person does about it, for the findings desk and the order page
(README "Findings" has the long form). tests/console/test_finding_kinds.py checks every kind the code can
record is here."""

KINDS = {
    # money in
    "double-payment": ("A transfer was paid twice: the extra money is in `overpaid`.",
                       "Recover it from the receiver (the finding names the TransactionID), then resolve."),
    "stk-callback-conflict": ("Two STK answers for one prompt disagree.", "Check the receipt on the M-Pesa portal."),
    "stk-callback-contradicted": ("An STK success that our query to M-Pesa denies: nothing was funded.",
                                  "Check the receipt on the portal; a forged callback needs no action beyond noting it."),
    "stk-callback-amount-forged": ("An STK success naming an amount we never asked for; funded from the query.",
                                   "Check the receipt on the portal; note where the callback came from."),
    "stk-callback-amount-after-query": ("An STK callback's amount differs from the one the query confirmed.",
                                        "Compare both with the portal before resolving."),
    "stk-query-contradicts-success": ("M-Pesa's query says failed where a success callback arrived.",
                                      "Check the receipt on the portal; the order was not funded from the callback."),
    "stk-query-success-after-failure": ("A prompt first reported failed was later confirmed paid.",
                                        "Make sure the buyer was not asked to pay twice (see the order's prompts)."),
    "stk-unconfirmed-expired": ("An order expired while a payment for it was never confirmed either way.",
                                "Look for the payer's receipt on the portal; return it if it exists."),
    "stk-still-checking": ("A payment is still being checked a day after pay-by.",
                           "Run `flask reconcile statement` for that day."),
    "paybill-contradicted": ("A paybill payment M-Pesa's Transaction Status denies: nothing funded.",
                             "Check the receipt on the portal."),
    "paybill-unconfirmed": ("A paybill payment with no status answer after six checks: still held.",
                            "Check the receipt on the portal; the statement pass funds it if real."),
    "paybill-held-for-statement": ("A paybill payment Transaction Status confirmed, held: it may quote the receipt of "
                                   "another order's payment funded by STK query (same amount, not yet on the "
                                   "statement). Nothing funded.",
                                   "Wait for the next statement pass (`flask reconcile statement`): it funds the "
                                   "order if the payment is real and its own, and resolves this finding."),
    "stk-paid-held-for-statement": ("An STK query says the order's push was paid, but a paybill payment of the same "
                                    "amount, confirmed only by Transaction Status, may quote its receipt: not "
                                    "funded until the statement shows which account it paid.",
                                    "Wait for the next statement pass; if it shows a `statement-account` finding, "
                                    "settle both orders by hand, then resolve."),
    "suspense-wrong-amount": ("A wrong-amount payment for an order that could not go to review (already funded, "
                              "or closed): held in suspense with nothing else to show it.",
                              "Return it to whoever paid by hand (a Reversal on its TransID for a paybill payment, "
                              "B2C for an STK one); `return-payment` works only while an order is under review."),
    "paybill-unmatched": ("Money paid to the paybill that names no order we know.",
                          "Find the payer from the portal; return it (return-payment) if no order fits."),
    "orphan": ("A callback that never matched any request we made (an STK success may be real money).",
               "Look the receipt up on the portal before resolving."),
    "return-held": ("Money owed back beyond the AUTO_RETURNS_* caps: not sent automatically.",
                    "Return it by hand on the portal, then resolve with the receipt."),
    "reversal-failed": ("A reversal M-Pesa refused.", "Never re-sent automatically: check the portal."),
    "reversal-unknown": ("A reversal M-Pesa never settled.", "Check the portal before trying anything again."),
    "refund-already-reversed": ("An order was refunded, but its paybill payment had already been reversed once: "
                                "nothing was sent again.",
                                "Check the statement for that reversal: if the payer got the money back, resolve "
                                "the finding; if not, return it by hand (the books still owe it)."),
    # money out
    "payout-unknown": ("A payout whose outcome M-Pesa never told us (it may have been paid).",
                       "Check the OriginatorConversationID on the portal; never pay again before knowing."),
    "payout-held-up": ("A payout stuck before it could be sent.", "See the note; the reconcile pass retries."),
    "payout-failed": ("A payout M-Pesa refused for good: the money is still owed.",
                      "Fix the cause (number, limits), then pay it from the portal and resolve."),
    "payout-amount-mismatch": ("M-Pesa paid a different amount from what we asked.",
                               "Short: the rest is still owed; over: recover the excess."),
    "payout-answer-mismatch": ("An answer at one transfer's tagged URL named another transfer's ids: "
                               "rejected, no effect.", "Check both transfers on the portal; may be a replay."),
    "payout-receipt-reused": ("A payout answer quoted a receipt another transfer already has: not applied.",
                              "Check the receipt on the portal."),
    "payout-waiting-float": ("A payout refused for lack of float waits for a top-up.", "Top up the B2C float."),
    "float-low": ("The B2C float is below what is owed out plus B2C_FLOAT_MIN.",
                  "Top up the B2C utility account before payouts fail."),
    # the statement
    "statement-new": ("Money on M-Pesa's statement we had no record of; posted as a late callback would be.",
                      "Read how it was posted (suspense, returned or held) and follow up."),
    "statement-missing": ("A payment in our books that M-Pesa's statement does not show: money we may not hold.",
                          "Check the receipt on the portal: a forged or mistaken callback."),
    "statement-amount": ("The statement and our books disagree on a receipt's amount (never corrected "
                         "automatically).", "Compare with the portal and correct by hand."),
    "statement-account": ("A receipt the statement shows paying one order's account was applied to another "
                          "order from a paybill confirmation: likely a payment quoted for a second order.",
                          "Neither release nor refund the booked order (its money is the other's payment); "
                          "confirm on the portal who paid, then settle both by hand."),
    "statement-number": ("The statement's payer differs from the order's buyer.", "Check who paid."),
    "statement-duplicate": ("A receipt listed twice on the statement (counted once).", "Nothing to move; note it."),
    "statement-changed": ("A statement line changed between two reads.", "Compare with the portal."),
    "statement-ambiguous": ("A till line that fits several query-funded payments.", "Match it by hand."),
    "statement-unreadable": ("A statement line we could not read: its run is marked failed.",
                             "Import the portal's export for that window."),
    "statement-failed": ("A statement run failed: coverage does not advance.", "See the note; rerun it."),
    "statement-gap": ("A stretch Pull Transactions no longer reaches was never reconciled.",
                      "Import the portal export for it (`flask reconcile statement --csv`)."),
    "statement-unknown-transfer": ("A B2C statement line naming no transfer of ours.", "Check it on the portal."),
    "statement-transfer-amount": ("A B2C statement line's amount differs from our transfer's.",
                                  "Compare with the portal."),
    "statement-payout-missing": ("A payout M-Pesa's result said it paid is not on the B2C statement.",
                                 "Money we think went out and may not have: check the portal."),
    "statement-movement": ("A shortcode's own movement (charge, sweep, top-up) on its statement.",
                           "Check it was expected."),
    # other
    "callback-unprocessable": ("A stored callback that could not be applied after retries.",
                               "Read it (callbacks desk) and settle its order by hand."),
    "code-sms-failed": ("A delivery code SMS failed for good.", "The buyer can see the code on USSD (My orders)."),
    "code-on-screen": ("A delivery code was shown on the buyer's USSD screen because its SMS did not arrive.",
                       "Nothing to move; check the SMS provider."),
}

CALLBACK_STATUSES = {
    "malformed": "could not be read as the provider's format: no effect",
    "rejected": "failed a check (a transfer's tag, or its ids named another transfer): no effect",
    "unmatched": "matched no request of ours after the retry window",
    "orphan": "matched no request yet: retried until ORPHAN_RETRY_HOURS",
    "inconclusive": "a status answer that settled nothing: the next check asks again",
    "contradicted": "M-Pesa's own query denies what it says, or the statement covered its time without it",
    "await_stmt": "a paybill payment Transaction Status confirmed that may quote another order's receipt: no "
                  "effect until the statement pass settles it (a paybill-held-for-statement finding)",
    "unverified": "a B2C answer at an untagged URL: kept, never applied; its transfer was asked about instead "
                  "(a Transaction Status check), whose tagged answer settles it",
}


def meaning(kind: str | None) -> tuple[str, str]:
    return KINDS.get(kind or "", ("A finding of a kind this page does not know.", "Read the summary and detail."))
