"""Names, phones, tax ids, goods and texts the synthetic business is written in: Russian and
Kazakh companies, people, banks and addresses, and each system's spelling of them.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from finance_sandbox.taxids import (
    iban_check_digits,
    inn10_check_digit,
    inn12_check_digits,
    kz_check_digit,
    ogrn_check_digit,
    ru_account_key,
)

# ---------------------------------------------------------------------------------------------
# Names, phones, tax ids
# ---------------------------------------------------------------------------------------------

# fmt: off
_RU_PREFIXES = (
    "Техно", "Строй", "Агро", "Энерго", "Спец", "Гранд", "Мега", "Инвест", "Торг", "Евро", "Сиб",
    "Урал", "Волга", "Нева", "Промо", "Норд", "Вест", "Эко", "Медиа", "Инфо", "Мастер", "Оптима",
    "Прайм", "Стандарт", "Авто", "Гидро", "Тепло", "Электро",
)
_RU_SUFFIXES = (
    "сервис", "ресурс", "снаб", "комплект", "маркет", "лайн", "трейд", "пром", "логистик", "групп",
    "систем", "строй", "мир", "альянс", "холдинг", "проект", "тех", "профи",
)
_RU_WORDS = (
    "Дорос", "Вектор", "Меридиан", "Альтаир", "Орион", "Гелиос", "Атлант", "Бриз", "Рассвет",
    "Прогресс", "Горизонт", "Зенит", "Кристалл", "Магистраль", "Монолит", "Пересвет", "Радуга",
    "Сапфир", "Тандем", "Фаворит", "Эталон", "Янтарь", "Байкал", "Ладога", "Сатурн", "Омега",
)
_NAME_TAILS = (
    " Плюс", "-М", " Юг", " Север", "-Центр", " Про", "-2000", " Инвест",
)
_KZ_PREFIXES = (
    "Алтын", "Каспий", "Астана", "Алматы", "Жетысу", "Сарыарка", "Тулпар", "Евразия", "Шымкент",
    "Атырау", "Байтерек", "Кайнар", "Самрук", "Нурлы", "Ак", "Мерей",
)
_KZ_SUFFIXES = (
    "Трейд", "Строй", "Сервис", "Логистик", "Пром", "Групп", "Инвест", "Агро", "Снаб", "Дала",
    "Тау", "Жол",
)
_RU_SURNAMES = (
    "Иванов", "Петров", "Смирнов", "Кузнецов", "Попов", "Васильев", "Соколов", "Михайлов",
    "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров", "Павлов",
    "Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин", "Захаров",
    "Королёв",
)
_RU_MALE = (
    "Иван", "Алексей", "Сергей", "Дмитрий", "Андрей", "Михаил", "Николай", "Павел", "Владимир",
    "Олег", "Артём", "Евгений",
)
_RU_FEMALE = (
    "Анна", "Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Мария", "Светлана",
)
_RU_PATRONYMICS = (
    "Иванович", "Алексеевич", "Сергеевич", "Дмитриевич", "Андреевич", "Михайлович", "Николаевич",
    "Павлович", "Владимирович", "Олегович",
)
_KZ_SURNAMES = (
    "Серикбаев", "Нурланов", "Ахметов", "Жумабаев", "Касымов", "Абенов", "Омаров", "Тулегенов",
    "Бекмуханов", "Исабеков", "Кенжебаев", "Мукашев",
)
_KZ_MALE = (
    "Нурлан", "Ерлан", "Асхат", "Данияр", "Арман", "Айдар", "Бауыржан", "Ержан",
)
_KZ_PATRONYMICS = (
    "Серикович", "Ерланович", "Асхатович", "Маратович", "Кайратович", "Болатович",
)
# city, region code (first digits of INN), postcode prefix
_RU_CITIES = (
    ("Москва", "77", "1"), ("Санкт-Петербург", "78", "19"), ("Новосибирск", "54", "630"),
    ("Екатеринбург", "66", "620"), ("Казань", "16", "420"), ("Нижний Новгород", "52", "603"),
    ("Краснодар", "23", "350"), ("Самара", "63", "443"), ("Уфа", "02", "450"),
    ("Ростов-на-Дону", "61", "344"), ("Подольск", "50", "142"),
)
_RU_STREETS = (
    "ул. Ленина", "ул. Гагарина", "пр-т Мира", "ул. Садовая", "ул. Советская", "ул. Лесная",
    "ул. Промышленная", "Варшавское ш.", "ул. Профсоюзная", "ул. Заводская",
)
_KZ_CITIES = (
    ("Алматы", "050000"), ("Астана", "010000"), ("Шымкент", "160000"), ("Караганда", "100000"),
    ("Актобе", "030000"), ("Атырау", "060000"),
)
_KZ_STREETS = (
    "пр. Абая", "ул. Толе би", "пр. Назарбаева", "ул. Сатпаева", "пр. Республики", "ул. Жибек Жолы",
)
# name, BIC, correspondent account
RU_BANKS = (
    ("ПАО Сбербанк", "044525225", "30101810400000000225"),
    ("АО «Альфа-Банк»", "044525593", "30101810200000000593"),
    ("Банк ВТБ (ПАО)", "044525187", "30101810700000000187"),
    ("АО «ТБанк»", "044525974", "30101810145250000974"),
    ("ПАО «Промсвязьбанк»", "044525555", "30101810400000000555"),
    ("АО «Райффайзенбанк»", "044525700", "30101810200000000700"),
)
# name, BIC, IBAN bank code
KZ_BANKS = (
    ("АО «Kaspi Bank»", "CASPKZKA", "722"),
    ("АО «Народный Банк Казахстана»", "HSBKKZKX", "601"),
    ("АО «Банк ЦентрКредит»", "KCJBKZKX", "856"),
    ("АО «ForteBank»", "IRTYKZKA", "965"),
)
# fmt: on
FORM_FULL = {
    "ООО": "Общество с ограниченной ответственностью",
    "АО": "Акционерное общество",
    "ПАО": "Публичное акционерное общество",
    "ИП": "Индивидуальный предприниматель",
    "ТОО": "Товарищество с ограниченной ответственностью",
}
_TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        [
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "e",
            "zh",
            "z",
            "i",
            "y",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "kh",
            "ts",
            "ch",
            "sh",
            "shch",
            "",
            "y",
            "",
            "e",
            "yu",
            "ya",
        ],
        strict=True,
    )
)
MONTHS = (
    "январь",
    "февраль",
    "март",
    "апрель",
    "май",
    "июнь",
    "июль",
    "август",
    "сентябрь",
    "октябрь",
    "ноябрь",
    "декабрь",
)
SKU_LETTERS = "ABCEHKMOPTX"  # letters with a Cyrillic twin: real SKUs get typed in both
TO_CYRILLIC = str.maketrans("ABCEHKMOPTX", "АВСЕНКМОРТХ")


def translit(s: str) -> str:
    return "".join(
        _TRANSLIT.get(ch, ch if ch.isascii() and ch.isalnum() else "") for ch in s.lower()
    )


def phone_bitrix(p: str) -> str:
    d = p[2:]
    return f"+7 ({d[:3]}) {d[3:6]}-{d[6:8]}-{d[8:]}"


def phone_salesman(p: str) -> str:
    d = p[2:]
    return f"8 ({d[:3]}) {d[3:6]}-{d[6:8]}-{d[8:]}"


def phone_apipay(p: str) -> str:
    return "8" + p[2:]


def dmy(d: date) -> str:
    return d.strftime("%d.%m.%Y")


def rub_text(cents: int) -> str:
    """'12000-00': how Russian payment orders write an amount."""
    return f"{cents // 100}-{cents % 100:02d}"


class Faker:
    """Names, phones and registration numbers; all unique where the real ones are."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.tax_ids: set[str] = set()
        self.phones: set[str] = set()
        self.names: set[str] = set()

    # --- registration numbers ---
    def ru_inn(self, individual: bool, region: str) -> str:
        rng = self.rng
        while True:
            head = region + f"{rng.randint(1, 51):02d}"
            if individual:
                body = head + f"{rng.randrange(10**6):06d}"
                inn = body + inn12_check_digits(body)
            else:
                body = head + f"{rng.randrange(10**5):05d}"
                inn = body + inn10_check_digit(body)
            if inn not in self.tax_ids:
                self.tax_ids.add(inn)
                return inn

    def ru_ogrn(self, individual: bool, region: str) -> str:
        rng = self.rng
        year = f"{rng.randint(3, 24):02d}"
        if individual:  # 3 + year + region + 9 digits + check = 15
            body = "3" + year + region + f"{rng.randrange(10**9):09d}"
        else:  # 1 + year + region + 2 (inspection) + 5 + check = 13
            body = "1" + year + region + f"{rng.randint(1, 51):02d}" + f"{rng.randrange(10**5):05d}"
        return body + ogrn_check_digit(body)

    def kz_bin(self, individual: bool) -> str:
        """BIN: YYMM of registration, 4 (resident legal entity), 0 (head office), 5 serial.
        IIN: YYMMDD of birth, century/sex digit, 4 serial. Then the check digit."""
        rng = self.rng
        while True:
            if individual:
                born = date(1965, 1, 1) + timedelta(days=rng.randrange(12000))
                century = "3" if born.year < 2000 else "5"
                body = born.strftime("%y%m%d") + century + f"{rng.randrange(10**4):04d}"
            else:
                body = (
                    f"{rng.randint(5, 24):02d}{rng.randint(1, 12):02d}"
                    + "40"
                    + f"{rng.randrange(10**5):05d}"
                )
            check = kz_check_digit(body)
            if check is None:  # numbers whose check digit would be 10 are never issued
                continue
            value = body + str(check)
            if value not in self.tax_ids:
                self.tax_ids.add(value)
                return value

    def ru_account(self, bic: str, individual: bool) -> str:
        rng = self.rng
        raw = ("40802810" if individual else "40702810") + "0" + f"{rng.randrange(10**11):011d}"
        return raw[:8] + ru_account_key(bic, raw) + raw[9:]

    def kz_iban(self, bank_code: str) -> str:
        bban = bank_code + f"{self.rng.randrange(10**13):013d}"
        return "KZ" + iban_check_digits("KZ", bban) + bban

    # --- contacts ---
    def phone(self, country: str) -> str:
        rng = self.rng
        while True:
            if country == "KZ":
                code = rng.choice(
                    ("700", "701", "702", "705", "707", "747", "771", "775", "777", "778")
                )
            else:
                code = f"9{rng.randint(0, 99):02d}"
            value = f"+7{code}{rng.randrange(10**7):07d}"
            if value not in self.phones:
                self.phones.add(value)
                return value

    def person(self, country: str) -> tuple[str, str, str]:
        rng = self.rng
        if country == "KZ":
            return rng.choice(_KZ_SURNAMES), rng.choice(_KZ_MALE), rng.choice(_KZ_PATRONYMICS)
        surname, patronymic = rng.choice(_RU_SURNAMES), rng.choice(_RU_PATRONYMICS)
        if rng.random() < 0.3:
            return surname + "а", rng.choice(_RU_FEMALE), patronymic[:-2] + "на"
        return surname, rng.choice(_RU_MALE), patronymic

    def core_name(self, country: str) -> str:
        rng = self.rng
        for attempt in range(1000):
            if country == "KZ":
                name = f"{rng.choice(_KZ_PREFIXES)} {rng.choice(_KZ_SUFFIXES)}"
            else:
                r = rng.random()
                if r < 0.35:
                    name = rng.choice(_RU_WORDS)
                elif r < 0.8:
                    name = rng.choice(_RU_PREFIXES) + rng.choice(_RU_SUFFIXES)
                else:
                    name = f"{rng.choice(_RU_PREFIXES)}-{rng.choice(_RU_SUFFIXES).capitalize()}"
            if attempt > 20:
                name += rng.choice(_NAME_TAILS)
            if attempt > 200:
                name += f" {attempt}"
            if name not in self.names:
                self.names.add(name)
                return name
        raise RuntimeError("name space exhausted")  # pragma: no cover

    def address(self, country: str) -> tuple[str, str]:
        """(address, region code) — the region feeds the INN."""
        rng = self.rng
        if country == "KZ":
            city, post = rng.choice(_KZ_CITIES)
            return (
                f"{post}, г. {city}, {rng.choice(_KZ_STREETS)}, д. {rng.randint(1, 250)}, "
                f"офис {rng.randint(1, 90)}",
                "",
            )
        city, region, post = rng.choice(_RU_CITIES)
        postcode = post + "".join(str(rng.randrange(10)) for _ in range(6 - len(post)))
        return (
            f"{postcode}, г. {city}, {rng.choice(_RU_STREETS)}, д. {rng.randint(1, 120)}, "
            f"офис {rng.randint(1, 400)}",
            region,
        )


def initials(person: tuple[str, str, str], spaced: bool = False) -> str:
    surname, first, patronymic = person
    sep = " " if spaced else ""
    return f"{surname} {first[0]}.{sep}{patronymic[0]}."


def yo(s: str, rng: random.Random, p: float) -> str:
    """Systems and people disagree on ё: 'Фёдоров' is often typed 'Федоров'."""
    return s.replace("ё", "е").replace("Ё", "Е") if "ё" in s.lower() and rng.random() < p else s


# ---------------------------------------------------------------------------------------------
# Catalog seeds
# ---------------------------------------------------------------------------------------------

# fmt: off
# (name, unit symbol, type, low price, high price) in RUB for RU, KZT for KZ
RU_GOODS = (
    ("Кирпич красный облицовочный", "шт", "product", 25, 90),
    ("Цемент М500, мешок 50 кг", "шт", "product", 450, 900),
    ("Смесь штукатурная гипсовая", "кг", "product", 18, 60),
    ("Профнастил С8", "м", "product", 350, 900),
    ("Кабель ВВГнг 3х2,5", "м", "product", 90, 250),
    ("Труба ПНД 32 мм", "м", "product", 60, 180),
    ("Краска фасадная белая", "л", "product", 250, 800),
    ("Грунтовка глубокого проникновения", "л", "product", 90, 300),
    ("Саморез кровельный 4,8х35", "упак", "product", 600, 1500),
    ("Утеплитель минвата 50 мм", "упак", "product", 900, 2500),
    ("Плитка керамическая 30х60", "шт", "product", 120, 600),
    ("Светильник светодиодный офисный", "шт", "product", 1500, 6000),
    ("Вентилятор канальный 125 мм", "шт", "product", 3500, 15_000),
    ("Котел газовый настенный", "шт", "product", 35_000, 120_000),
    ("Монтаж вентиляции", "час", "service", 1500, 4000),
    ("Доставка по городу", "усл", "service", 1500, 6000),
    ("Консультация инженера", "час", "service", 2000, 6000),
    ("Проектирование системы отопления", "усл", "service", 15_000, 90_000),
    ("Пусконаладочные работы", "усл", "service", 8000, 45_000),
    ("Техническое обслуживание", "усл", "service", 5000, 30_000),
    ("Разгрузочные работы", "час", "service", 800, 2000),
    ("Аренда спецтехники", "час", "service", 2500, 9000),
)
KZ_GOODS = (
    ("Кофе в зернах 1 кг", "шт", "product", 6000, 18_000),
    ("Чай черный листовой 250 г", "шт", "product", 1200, 4000),
    ("Сахар-песок", "кг", "product", 400, 700),
    ("Вода питьевая 19 л", "шт", "product", 1200, 2500),
    ("Бумага офисная А4", "упак", "product", 2500, 4500),
    ("Картридж для принтера", "шт", "product", 9000, 35_000),
    ("Стаканы бумажные 250 мл", "упак", "product", 1500, 4000),
    ("Салфетки бумажные", "упак", "product", 500, 1500),
    ("Мед натуральный", "кг", "product", 4000, 9000),
    ("Доставка по Алматы", "усл", "service", 1500, 5000),
    ("Уборка офиса", "час", "service", 3000, 8000),
    ("Обслуживание кофемашины", "усл", "service", 15_000, 60_000),
)
VARIANTS = (
    "эконом", "стандарт", "премиум", "PRO", "Lite", "серия 2", "оптом",
)
FAST_SALE_NAMES = (
    "Доставка", "Упаковка", "Услуга курьера", "Сборка заказа", "Подарочный набор",
)

# id, symbol, name, ОКЕИ, fractional
UNITS = (
    (1, "шт", "Штука", "796", False),
    (2, "час", "Час", "356", True),
    (3, "кг", "Килограмм", "166", True),
    (4, "усл", "Условная единица", "876", False),
    (5, "м", "Метр", "006", True),
    (6, "л", "Литр", "112", True),
    (7, "упак", "Упаковка", "778", False),
)

# key, name, type, kind, owner transfer, group key
CATEGORIES = (
    ("sales", "Продажи", 1, 1, False, "revenue"),
    ("other_income", "Прочие поступления", 1, 1, False, "other_income"),
    ("interest_income", "Проценты на остаток", 1, 1, False, "other_income"),
    ("loans_in", "Кредиты и займы", 1, 3, False, "finance_in"),
    ("asset_sale", "Продажа оборудования", 1, 2, False, "invest_in"),
    ("owner_in", "Ввод денег", 1, 3, True, "owner_in"),
    ("refunds", "Возвраты покупателям", 2, 1, False, "variable"),
    ("rent", "Аренда", 2, 1, False, "fixed"),
    ("salary", "Зарплата", 2, 1, False, "payroll"),
    ("taxes", "Налоги и пошлины", 2, 1, False, "taxes"),
    ("purchases", "Закупка товаров", 2, 1, False, "variable"),
    ("marketing", "Реклама и маркетинг", 2, 1, False, "variable"),
    ("telecom", "Связь и интернет", 2, 1, False, "fixed"),
    ("bank_fees", "Банковские комиссии", 2, 1, False, "fixed"),
    ("household", "Хозяйственные расходы", 2, 1, False, "fixed"),
    ("equipment", "Покупка оборудования", 2, 2, False, "invest_out"),
    ("loan_repay", "Погашение кредитов", 2, 3, False, "finance_out"),
    ("loan_interest", "Проценты по кредитам", 2, 3, False, "finance_out"),
    ("owner_out", "Вывод денег", 2, 3, True, "owner_out"),
)
CATEGORY_GROUPS = (
    ("revenue", "Выручка", 1),
    ("other_income", "Прочие доходы", 1),
    ("finance_in", "Финансовые поступления", 1),
    ("invest_in", "Инвестиционные поступления", 1),
    ("owner_in", "Ввод денег", 1),
    ("fixed", "Постоянные расходы", 2),
    ("payroll", "Фонд оплаты труда", 2),
    ("taxes", "Налоги", 2),
    ("variable", "Переменные расходы", 2),
    ("invest_out", "Инвестиции", 2),
    ("finance_out", "Обслуживание долга", 2),
    ("owner_out", "Вывод денег", 2),
)

# Random ledger movements: category key, weight, low / high amount in main currency units,
# contractor pool, description templates ({n} number, {d} date, {month} month name).
RANDOM_SPECS = (
    ("purchases", 34, 5000, 400_000, "supplier", (
        "Оплата за товар по счету № {n} от {d}", "Оплата по счету {n} за материалы",
        "Закупка товара по договору поставки", "Предоплата поставщику по счету № {n}",
    )),
    ("marketing", 8, 3000, 150_000, "supplier", (
        "Оплата рекламы в Яндекс Директ", "Размещение рекламы по договору № {n}",
        "Услуги SMM за {month}", "Оплата по счету № {n} за рекламные услуги",
    )),
    ("household", 14, 300, 15_000, "supplier?", (
        "Канцтовары", "Вода и чай в офис", "Хозтовары", "Ремонт оргтехники",
        "Оплата курьерской доставки",
    )),
    ("telecom", 5, 1000, 20_000, "telecom", (
        "Услуги связи за {month}", "Интернет и телефония, счет № {n}",
    )),
    ("bank_fees", 12, 50, 3000, None, (
        "Комиссия за платежное поручение", "Комиссия банка за перевод",
        "Плата за SMS-информирование", "Комиссия за обслуживание по тарифу",
    )),
    ("taxes", 4, 1000, 80_000, None, (
        "Государственная пошлина", "Пени по налогу", "Транспортный налог за {month}",
    )),
    ("equipment", 2, 30_000, 600_000, "supplier", (
        "Покупка ноутбуков по счету № {n}", "Оплата оборудования по договору № {n}",
        "Приобретение оргтехники",
    )),
    ("salary", 6, 10_000, 120_000, None, (
        "Премия сотрудникам за {month}", "Оплата больничного", "Отпускные",
    )),
    ("refunds", 2, 1000, 60_000, "customer", (
        "Возврат денежных средств покупателю по претензии", "Возврат предоплаты по письму № {n}",
    )),
    ("other_income", 3, 1000, 50_000, "customer?", (
        "Возврат от поставщика по счету № {n}", "Возмещение страховой компании",
        "Прочие поступления",
    )),
    ("interest_income", 2, 500, 20_000, None, (
        "Проценты на остаток по счету за {month}", "Начисленные проценты по депозиту",
    )),
)
UNMATCHED_TEXTS = (
    "Оплата по договору поставки № {n}/2025 от {d}", "Аванс за поставку по договору № {n}",
    "Поступление от покупателя без указания счета", "Оплата за услуги, без НДС",
    "Перевод от клиента по договору № {n}",
)
DEAL_TITLES = (
    "Поставка стройматериалов", "Монтаж вентиляции", "Сервисный контракт", "Проектирование",
    "Поставка оборудования", "Пусконаладка", "Годовое обслуживание",
)
REFUND_REASONS = (
    "Возврат товара", "Отказ клиента", "Ошибка в заказе", "Брак", "Частичная поставка",
)

# fmt: on
