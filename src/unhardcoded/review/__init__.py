"""The read side: questions asked of stored receipts (replay as then and now, a policy over a period, a
receipt rendered for people). Reads the store through the public ReceiptStore methods only; never writes.
"""
