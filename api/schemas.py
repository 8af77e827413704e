"""Request and response bodies (pydantic v2): validated on the way in, and the OpenAPI schemas."""
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from escrow.views import ACTIONS, DISPUTE_REASONS

Phone = Field(min_length=9, max_length=20, description="A Kenyan mobile number: 07.., 01.., 2547.. or +2547..",
              examples=["0712345678"])
Shillings = Field(ge=1, le=10_000_000, description="Whole Kenya shillings", examples=[1500])
Item = Field(min_length=1, max_length=40, examples=["Blue kitenge"])


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class VerificationIn(Body):
    phone: str = Phone


class VerificationOut(BaseModel):
    id: str
    phone: str = Field(description="The number, masked")
    expires_at: AwareDatetime


class VerificationCheckIn(Body):
    code: str = Field(min_length=1, max_length=12, examples=["123456"])


class PhoneTokenOut(BaseModel):
    token: str = Field(description="Send as the Zemi-Phone-Token header to act for this number")
    phone: str = Field(description="The number, masked")
    expires_at: AwareDatetime


class OrderIn(Body):
    seller_phone: str = Phone
    amount: int = Shillings
    item: str = Item


class PaymentRequestIn(Body):
    amount: int = Shillings
    item: str = Item
    buyer_phone: str | None = Field(default=None, min_length=9, max_length=20,
                                    description="Omit for an open link: whoever pays becomes the buyer")


class CodeIn(Body):
    code: str = Field(min_length=1, max_length=12, description="The buyer's delivery code", examples=["123456"])


class DisputeIn(Body):
    reason: Literal[DISPUTE_REASONS]  # type: ignore[valid-type]


class OrderOut(BaseModel):
    reference: str
    state: str
    item: str
    price: int
    fee: int
    charge: int = Field(description="What the buyer pays")
    payout: int = Field(description="What the seller receives")
    role: Literal["buyer", "seller"] = Field(description="The verified number's role in the order")
    counterpart: str = Field(description="The other party's number in full (0712345678), as USSD shows it to a "
                                         "party: buyer and seller must reach each other")
    actions: list[Literal[ACTIONS]]  # type: ignore[valid-type]
    pay_url: str | None = None


class OrderListOut(BaseModel):
    data: list[OrderOut]
    has_more: bool


class PaymentLinkOut(BaseModel):
    url: str = Field(description="PUBLIC_BASE_URL/p/<token>: send it to the buyer")
    open: bool = Field(description="True when whoever pays becomes the buyer")
    item: str
    price: int
    expires_at: AwareDatetime
    order: OrderOut | None = None


class PaymentOut(BaseModel):
    reference: str
    order_state: str
    status: Literal["none", "queued", "sending", "sent", "unknown", "succeeded", "failed"]
    checkout_id: str | None = None
    result_code: str | None = None
    result_description: str | None = None
    requested_at: datetime | None = None


class Problem(BaseModel):
    """RFC 9457 problem details."""
    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
