"""M-Pesa Daraja adapter: the HTTP client, callback parsers, token store and a local simulator.

Daraja's vocabulary (CheckoutRequestID, ResultCode, ...) stays inside this package; everything it
hands out is snake_case typed results from `mpesa.results`.
"""
