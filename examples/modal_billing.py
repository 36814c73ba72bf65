"""The Modal billing agent, with keybrake: one budget for the batch, one short-lived locked key per invocation.

Runs as a Modal app when `modal` is installed (`modal run modal_billing.py`), or as a plain script against
any keybrake (`python3 modal_billing.py`, defaults to local mode on http://127.0.0.1:8787).
The Stripe secret never reaches this code: only KEYBRAKE_API_KEY, the issuer token, does.
Needs Python 3 with stripe and httpx: `pip install stripe httpx` (Debian: apt-get install python3-stripe python3-httpx).
"""
import os

import httpx
import stripe

KEYBRAKE_URL = os.environ.get("KEYBRAKE_URL", "http://127.0.0.1:8787")
stripe.api_base = f"{KEYBRAKE_URL}/stripe"


def keybrake(method: str, path: str, body=None) -> dict:
    """An issuer route of keybrake, with the issuer token."""
    r = httpx.request(
        method,
        f"{KEYBRAKE_URL}{path}",
        headers={"Authorization": f"Bearer {os.environ['KEYBRAKE_API_KEY']}"},
        json=body,
    )
    r.raise_for_status()
    return r.json()


def start_batch(label: str, usd: float) -> str:
    # One budget for the whole batch: every invocation's key draws from it, so all of them together cannot spend
    # more than the batch was expected to cost, however wide the .map() fans out. Split in 4 ledger items, so
    # thousands of invocations at once do not all write the same one.
    budget = {"vendor": "stripe", "daily_usd_cap": usd, "expires_in": "1h", "agent_run_label": label, "parts": 4}
    return keybrake("POST", "/vault/budgets", budget)["budget_id"]


def charge_customer(customer_id: str, amount_cents: int, budget_id: str) -> dict:
    # A short-lived vault key for this invocation only: its own cap, this customer only, the batch's budget.
    key = keybrake(
        "POST",
        "/vault/keys",
        {
            "vendor": "stripe",
            "daily_usd_cap": 50.0,  # cap per invocation
            "allowed_endpoints": ["POST /v1/payment_intents"],
            "expires_in": "5m",  # short: the function runs in seconds
            "agent_run_label": f"modal-billing/{customer_id}",
            "counterparty": {"stripe_customer": customer_id},  # it can charge this customer and no other
            "budget_id": budget_id,
        },
    )
    try:
        return stripe.PaymentIntent.create(
            api_key=key["vault_key"],
            amount=amount_cents,
            currency="usd",
            customer=customer_id,
            idempotency_key=f"modal-{customer_id}-{amount_cents}",
        )
    finally:
        keybrake("DELETE", f"/vault/keys/{key['key_id']}")  # the invocation is over, and so is its key


try:  # On Modal: one vault key per invocation, however wide the .map() fans out, all in the batch's budget.
    import modal

    app = modal.App("billing-agent")
    charge_customer = app.function(secrets=[modal.Secret.from_name("keybrake-secret")])(charge_customer)

    @app.local_entrypoint()
    def main():
        customer_ids = ["cus_123", "cus_456"]
        budget_id = start_batch("modal-billing/batch-1", 150.0)  # the whole batch was expected to cost $150
        try:
            print(list(charge_customer.map(customer_ids, kwargs={"amount_cents": 2999, "budget_id": budget_id})))
        finally:
            keybrake("DELETE", f"/vault/budgets/{budget_id}")  # the batch is over: nothing more draws from it
except ImportError:
    pass


if __name__ == "__main__":
    # Without Modal: a $150 batch, one charge inside it, then a data bug (a 9,999.00 USD charge) that hits the cap.
    batch = start_batch("modal-billing/batch-1", 150.0)
    print("charged", charge_customer("cus_123", 2999, batch)["id"])
    try:
        charge_customer("cus_456", 999900, batch)
    except stripe.error.RateLimitError as e:
        print("refused by keybrake:", e.http_status, e.json_body["error"]["code"])
