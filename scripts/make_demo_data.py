"""Generate the synthetic demo dataset assets/demo/support_tickets.csv (stdlib only).

Every message is built from templates and small vocabularies, with a fixed seed, so the file
is reproducible byte for byte. Some messages carry a second topic on purpose (a billing
question asked from a locked account, a crash while paying, ...): the label is the main
issue, which keeps a small classifier honest (roughly 85-95% accuracy, not 100%).

Usage: python scripts/make_demo_data.py [--out assets/demo/support_tickets.csv]
       [--per-class 100] [--seed 13]
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

LABELS = ("billing", "shipping", "technical", "account")

ITEMS = ["order", "package", "parcel", "delivery", "purchase", "shipment"]
PRODUCTS = [
    "headphones",
    "coffee grinder",
    "desk lamp",
    "running shoes",
    "phone case",
    "backpack",
    "blender",
    "keyboard",
    "winter jacket",
    "water bottle",
]
DEVICES = ["iPhone", "Android phone", "laptop", "tablet", "Windows PC", "Mac", "Chromebook"]
PAGES = ["checkout page", "order history page", "app", "website", "settings screen", "dashboard"]
AMOUNTS = ["$12.99", "$24.50", "$49", "$79.99", "$8.75", "$120", "$35", "$15.20"]
DAYS = ["two days", "a week", "ten days", "three weeks", "since Monday", "since last Friday"]
CARRIERS = ["the courier", "the carrier", "the delivery driver", "the postal service"]
ERRORS = ["error 500", "a blank white screen", "'something went wrong'", "error code E42"]

# Each class has its own phrasing, with {slots} filled from the vocabularies above.
CORE = {
    "billing": [
        "I was charged twice for my {item} of {amount}.",
        "My card was billed {amount} but I never placed that {item}.",
        "Can I get a refund for the {product}? I returned it {days} ago.",
        "The invoice shows {amount} but the price on the site was lower.",
        "Why is there an extra {amount} fee on my statement?",
        "I cancelled my subscription but you still charged me {amount} this month.",
        "The discount code was not applied and I paid the full {amount}.",
        "Please send me a receipt for the {product}, I need it for my expenses.",
        "My refund of {amount} still has not reached my bank after {days}.",
        "I was billed for express delivery on my {item} but chose the free option.",
        "How do I change the credit card you charge for my plan?",
        "The price of my plan went up to {amount} without any notice.",
        "Your payment went through twice, please reverse one of the {amount} charges.",
        "I need an invoice with my company's VAT number on it.",
    ],
    "shipping": [
        "My {item} has not arrived and it has been {days}.",
        "The tracking number for my {product} does not show any updates.",
        "{carrier} left my {item} at the wrong address.",
        "The {product} arrived damaged, the box was crushed.",
        "Can I change the delivery address of my {item} before it ships?",
        "My {item} says delivered but there is nothing at my door.",
        "When will my {product} be shipped? It still says processing after {days}.",
        "Only half of my {item} arrived, the {product} is missing.",
        "Do you ship to Canada, and how long does delivery take?",
        "{carrier} tried to deliver my {product} while I was out, how do I reschedule?",
        "I received someone else's {item} instead of my {product}.",
        "The estimated delivery date of my {item} keeps moving back.",
        "Can I pick up my {product} at a store instead of waiting for delivery?",
        "My {item} is stuck in customs and nobody tells me why.",
    ],
    "technical": [
        "The {page} crashes every time I open it on my {device}.",
        "I get {error} when I try to load the {page}.",
        "The {page} is extremely slow on my {device} since the last update.",
        "Images do not load on the {page} in my browser.",
        "The app freezes on the loading screen on my {device}.",
        "Buttons on the {page} do nothing when I tap them on my {device}.",
        "Notifications stopped working on my {device} after the update.",
        "The search bar on the {page} returns no results for anything.",
        "I keep getting {error} after I updated the app on my {device}.",
        "The {page} shows the wrong language and I cannot switch it back.",
        "Your app drains my {device} battery and makes it overheat.",
        "The {page} layout is broken, text overlaps on my {device}.",
        "Videos on the product page will not play on my {device}.",
        "The app closes on its own a few seconds after I open it.",
    ],
    "account": [
        "I forgot my password and the reset email never arrives.",
        "My account is locked after too many login attempts.",
        "How do I change the email address on my account?",
        "Someone logged into my account from another country.",
        "Please delete my account and all of my personal data.",
        "I cannot verify my phone number, the code never comes.",
        "I want to merge my two accounts into one.",
        "How do I turn on two-factor authentication for my profile?",
        "My username was changed and I did not do it.",
        "I signed up with Google and now I cannot log in with my email.",
        "How can I update my name and address in my profile?",
        "The login page says my account does not exist, but I have used it for years.",
        "I want to unsubscribe from your marketing emails.",
        "My account was suspended and I do not know why.",
    ],
}

# Side remarks that borrow another class's words without changing the main issue.
DISTRACTORS = {
    "billing": [
        "I tried to check it in the app but the {page} would not load.",
        "I would look at my invoices myself but I am locked out of my account.",
        "The {product} itself arrived fine, this is only about the money.",
        "It happened around the time my {item} was shipped.",
    ],
    "shipping": [
        "I already paid {amount} for express delivery.",
        "The tracking link in the app shows {error}.",
        "I cannot log in to see the order status either.",
        "If it is lost I would like a refund.",
    ],
    "technical": [
        "It happens right when I try to pay for my {item}.",
        "Because of this I cannot track my {item}.",
        "I also cannot log in on the {device} when this happens.",
        "It started after I was charged {amount} for the premium plan.",
    ],
    "account": [
        "I need to get in to download my invoice.",
        "I cannot see where my {item} is because of this.",
        "The {page} also shows {error} on my {device}.",
        "I am worried someone will order things with my saved card.",
    ],
}

# Messages that honestly belong to two classes: each is generated under both labels, so
# no model can get all of them right. This is what keeps the demo from reaching 100%.
AMBIGUOUS = {
    ("billing", "shipping"): [
        "I paid {amount} for my {item} but it never came.",
        "I was charged for shipping on my {product} and it is still not here after {days}.",
        "The {product} was lost in transit, what happens to my {amount}?",
    ],
    ("billing", "account"): [
        "I cannot see my subscription or my payment history in my profile.",
        "Someone used my account to buy a {product} for {amount}.",
        "My plan shows as expired even though I paid {amount}.",
    ],
    ("technical", "account"): [
        "I cannot log in, the {page} just shows {error}.",
        "The password reset link opens {error} on my {device}.",
        "The app logs me out every few minutes on my {device}.",
    ],
    ("technical", "billing"): [
        "The {page} gave me {error} while paying, was I charged {amount}?",
        "The payment form does not accept my card on my {device}.",
        "I pressed pay once but the {page} froze and now I see two charges.",
    ],
    ("shipping", "technical"): [
        "The tracking page for my {item} shows {error}.",
        "I cannot change my delivery address, the {page} will not save it.",
    ],
    ("shipping", "account"): [
        "My saved delivery address keeps changing back to an old one.",
        "I cannot see my {item} in my account, was it ever shipped?",
    ],
}
AMBIGUOUS_RATE = 0.15

OPENERS = [
    "",
    "",
    "Hi,",
    "Hello,",
    "Hi there,",
    "Good morning,",
    "Hey,",
    "Dear support,",
    "Urgent:",
    "Quick question:",
]
CLOSERS = [
    "",
    "",
    "",
    "Thanks.",
    "Thank you!",
    "Please help.",
    "Can you look into this?",
    "This is really frustrating.",
    "Any help is appreciated.",
    "Please fix this as soon as possible.",
]
DISTRACTOR_RATE = 0.3


def fill(template: str, rng: random.Random) -> str:
    """Fill the {slots} of one template from the vocabularies."""
    text = template.format(
        item=rng.choice(ITEMS),
        product=rng.choice(PRODUCTS),
        device=rng.choice(DEVICES),
        page=rng.choice(PAGES),
        amount=rng.choice(AMOUNTS),
        days=rng.choice(DAYS),
        carrier=rng.choice(CARRIERS),
        error=rng.choice(ERRORS),
    )
    return text[0].upper() + text[1:]


def message(label: str, rng: random.Random) -> str:
    """One support message whose main issue is `label`."""
    pool = [t for pair, ts in AMBIGUOUS.items() if label in pair for t in ts]
    template = rng.choice(pool if rng.random() < AMBIGUOUS_RATE else CORE[label])
    sentences = [fill(template, rng)]
    if rng.random() < DISTRACTOR_RATE:
        side = fill(rng.choice(DISTRACTORS[label]), rng)
        sentences.insert(0 if rng.random() < 0.3 else 1, side)
    opener = rng.choice(OPENERS)
    first = sentences[0]
    if opener.endswith(",") and not first.startswith("I "):
        sentences[0] = first[0].lower() + first[1:]
    parts = [opener, *sentences, rng.choice(CLOSERS)]
    return " ".join(p for p in parts if p)


def generate(per_class: int = 100, seed: int = 13) -> list[tuple[str, str]]:
    """Rows (text, label): `per_class` distinct messages per class, shuffled."""
    rng = random.Random(seed)
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for label in LABELS:
        count = 0
        while count < per_class:
            text = message(label, rng)
            if text not in seen:
                seen.add(text)
                rows.append((text, label))
                count += 1
    rng.shuffle(rows)
    return rows


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=root / "assets/demo/support_tickets.csv")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    rows = generate(args.per_class, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows ({args.per_class} per class) to {args.out}")


if __name__ == "__main__":
    main()
