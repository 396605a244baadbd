"""Check digits of Russian and Kazakh registration numbers.

The synthetic world generates only numbers that pass these checks, and the warehouse uses the
same functions to tell a real tax id from a typo, so the algorithms live here once.

Every validator takes a string and only accepts ASCII digits of the right length: `str.isdigit`
alone would let through characters such as '²' or Arabic-Indic digits.
"""

from __future__ import annotations

# --- Russian INN (ИНН) ------------------------------------------------------------------------
# Official algorithm (ФНС, приказ ФНС России от 29.06.2012 № ММВ-7-6/435@):
#   * 10 digits (organisation): check = (sum(d_i * w_i) mod 11) mod 10 over the first 9 digits,
#     weights 2 4 10 3 5 9 4 6 8; it must equal the 10th digit.
#   * 12 digits (individual, ИП): two check digits. The 11th is computed over the first 10 digits
#     with weights 7 2 4 10 3 5 9 4 6 8, the 12th over the first 11 digits (including the 11th)
#     with weights 3 7 2 4 10 3 5 9 4 6 8; each is (sum mod 11) mod 10.
_INN10_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN11_WEIGHTS = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_WEIGHTS = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


def _is_ascii_digits(s: object, length: int) -> bool:
    return isinstance(s, str) and len(s) == length and s.isascii() and s.isdigit()


def _inn_digit(digits: str, weights: tuple[int, ...]) -> str:
    return str(sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11 % 10)


def inn10_check_digit(first9: str) -> str:
    """The 10th digit of an organisation's INN given its first nine digits."""
    return _inn_digit(first9, _INN10_WEIGHTS)


def inn12_check_digits(first10: str) -> str:
    """The 11th and 12th digits of an individual's INN given its first ten digits."""
    d11 = _inn_digit(first10, _INN11_WEIGHTS)
    return d11 + _inn_digit(first10 + d11, _INN12_WEIGHTS)


def valid_inn(s: str) -> bool:
    """True for a 10-digit (organisation) or 12-digit (individual) INN with valid check digits.

    All-zero strings pass the arithmetic but are never issued (region 00 does not exist), so they
    are rejected: they are the usual placeholder in badly filled requisites.
    """
    if not isinstance(s, str) or set(s) == {"0"}:
        return False
    if _is_ascii_digits(s, 10):
        return inn10_check_digit(s[:9]) == s[9]
    if _is_ascii_digits(s, 12):
        return inn12_check_digits(s[:10]) == s[10:]
    return False


# --- Russian KPP, OGRN / OGRNIP ---------------------------------------------------------------
# KPP (КПП) has no check digit: 4 digits of the tax office, 2 of the reason code, 3 serial digits.
# OGRN (ОГРН, 13 digits): the last digit is (first 12 digits as a number mod 11) mod 10.
# OGRNIP (ОГРНИП, 15 digits): the last digit is (first 14 digits as a number mod 13) mod 10.


def valid_kpp(s: str) -> bool:
    """True for a 9-digit KPP (format only: the KPP has no check digit)."""
    return _is_ascii_digits(s, 9)


def ogrn_check_digit(first: str) -> str:
    """The last digit of an OGRN (12 leading digits) or an OGRNIP (14 leading digits)."""
    modulus = 11 if len(first) == 12 else 13
    return str(int(first) % modulus % 10)


def valid_ogrn(s: str) -> bool:
    """True for a 13-digit OGRN or a 15-digit OGRNIP with a valid check digit."""
    if _is_ascii_digits(s, 13) or _is_ascii_digits(s, 15):
        return ogrn_check_digit(s[:-1]) == s[-1]
    return False


# --- Russian bank account control key ---------------------------------------------------------
# Bank of Russia rule (Положение ЦБ РФ № 579-П, порядок расчета контрольного ключа): write the last
# three digits of the BIC followed by the 20-digit account, multiply the 23 digits by the weights
# 7 1 3 7 1 3 ..., keep the last digit of each product and sum them; the account is valid when
# that sum ends in 0. The key is the 9th digit of the account.
_ACCOUNT_WEIGHTS = (7, 1, 3) * 8


def ru_account_key(bic: str, account: str) -> str:
    """The control key (9th digit) for `account` (its own 9th digit is ignored) at bank `bic`."""
    digits = bic[-3:] + account[:8] + "0" + account[9:]
    total = sum(int(d) * w % 10 for d, w in zip(digits, _ACCOUNT_WEIGHTS, strict=False))
    return str(total % 10 * 3 % 10)


def valid_ru_account(account: str, bic: str) -> bool:
    """True when a 20-digit account number carries the right control key for that BIC."""
    if not (_is_ascii_digits(account, 20) and _is_ascii_digits(bic, 9)):
        return False
    return ru_account_key(bic, account) == account[8]


# --- Kazakh BIN / IIN (БИН / ИИН) -------------------------------------------------------------
# Both are 12 digits and share one check-digit algorithm (Приказ МЮ РК о Национальных реестрах):
#   1. s = sum(d_i * i for i = 1..11) mod 11, i.e. weights 1 2 3 ... 11.
#   2. If s == 10, recompute with the second weight set 3 4 5 6 7 8 9 10 11 1 2.
#   3. If it is 10 again the number is never issued; otherwise s is the 12th digit.
_KZ_WEIGHTS_1 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_KZ_WEIGHTS_2 = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)


def kz_check_digit(first11: str) -> int | None:
    """The 12th digit of a BIN/IIN, or None when no valid number starts with these 11 digits."""
    digits = [int(d) for d in first11]
    s = sum(d * w for d, w in zip(digits, _KZ_WEIGHTS_1, strict=True)) % 11
    if s == 10:
        s = sum(d * w for d, w in zip(digits, _KZ_WEIGHTS_2, strict=True)) % 11
        if s == 10:
            return None
    return s


def valid_kz_bin(s: str) -> bool:
    """True for a 12-digit Kazakh BIN (organisation) or IIN (person) with a valid check digit."""
    if not _is_ascii_digits(s, 12) or set(s) == {"0"}:
        return False
    check = kz_check_digit(s[:11])
    return check is not None and check == int(s[11])


# --- Kazakh IBAN ------------------------------------------------------------------------------
# ISO 13616: move the country code and check digits to the end, letters become 10..35, and the
# whole number mod 97 must be 1. Kazakh IBANs are 20 characters: KZkk + 3-digit bank code + 13.


def iban_check_digits(country: str, bban: str) -> str:
    """The two check digits of an IBAN for `country` (e.g. "KZ") and its BBAN."""
    rearranged = bban + country + "00"
    number = int("".join(str(int(ch, 36)) for ch in rearranged))
    return f"{98 - number % 97:02d}"


def valid_iban(s: str) -> bool:
    """True when `s` (no spaces) passes the ISO 13616 mod-97 check."""
    if not isinstance(s, str) or len(s) < 15 or not s.isascii() or not s.isalnum():
        return False
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged.upper())) % 97 == 1
