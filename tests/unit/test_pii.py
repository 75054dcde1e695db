import json

import pytest

from shared.pii import find_pii, luhn_ok, mask_customer_ref, mask_name, mask_payload, mask_speech, mask_text
from shared.pii_crypto import PiiCipher, PiiKeyError


@pytest.mark.parametrize("text,expected,leaked", [
    ("주민번호 850315-1234567 입니다", "850315-1******", "1234567"),
    ("주민등록번호는 9001012345678 이에요", "9001012******", "2345678"),
    ("카드 4111-1111-1111-1111 분실", "4111-11**-****-1111", "1111-1111-1111-1111"),
    ("카드번호 4518421234567895", "*************895", "4518421234567895"),
    ("연락처 010-1234-5678", "010-1234-****", "5678"),
    ("번호는 01098765432 입니다", "0109876****", "98765432"),
    ("+82 10-9876-5432 로 주세요", "+82 10-9876-****", "5432"),
    ("여권 M12345678 제출", "M123*****", "45678"),
    ("면허 11-22-334455-66", "11-22-******-**", "334455"),
    ("메일 hong.gildong@naver.com 으로", "h***@naver.com", "hong.gildong"),
    ("국민 계좌 123-45-6789012 로 입금", "***-**-****012", "6789012"),
])
def test_personal_numbers_are_masked(text, expected, leaked):
    masked = mask_text(text)
    assert expected in masked
    assert leaked not in masked


def test_ordinary_numbers_and_dates_survive_masking():
    text = "2026-11-20에 1,000,000원 결제, 할부 12개월"
    assert mask_text(text) == text


def test_luhn():
    assert luhn_ok("4111111111111111")
    assert not luhn_ok("4111111111111112")


@pytest.mark.parametrize("name,masked", [("홍길동", "홍*동"), ("남궁민수", "남**수"), ("이수", "이*")])
def test_names_are_masked_korean_style(name, masked):
    assert mask_name(name) == masked


def test_encryption_round_trips_and_binds_to_context():
    c = PiiCipher.from_spec(PiiCipher.generate_spec("k1"))
    blob = c.encrypt("850315-1234567", b"case-1")
    assert b"850315" not in blob
    assert c.decrypt(blob, b"case-1") == "850315-1234567"
    with pytest.raises(Exception):
        c.decrypt(blob, b"case-2")


def test_rotated_key_ring_still_decrypts_old_rows():
    old = PiiCipher.from_spec(PiiCipher.generate_spec("k1"))
    blob = old.encrypt("010-1234-5678")
    new_spec = PiiCipher.generate_spec("k2") + "," + f"k1:{__import__('base64').b64encode(old.keys['k1']).decode()}"
    new = PiiCipher.from_spec(new_spec)
    assert new.active == "k2"
    assert new.decrypt(blob) == "010-1234-5678"
    assert new.encrypt("x").startswith(b"k2:")


@pytest.mark.parametrize("spec,needle", [("", "no PII key"), ("k1:short", "base64|32 bytes"),
                                         ("k1:" + "QUFB" * 4, "32 bytes"), ("nokid", "kid:base64")])
def test_bad_key_specs_are_refused(spec, needle):
    with pytest.raises(PiiKeyError, match=needle):
        PiiCipher.from_spec(spec)


def test_ordinary_numbers_are_kept():
    for text in ("승인번호 30012345", "사업자등록번호 220-81-62517", "콜센터 1588-1234", "VOC-2026-000123 접수",
                 "주문번호 20261120-0001234", "300만원 송금"):
        assert mask_text(text) == text, text


@pytest.mark.parametrize("text,leaked", [
    ("연락처 010－1234－5678", "5678"),                      # full-width hyphen
    ("연락처 010ㅡ1234ㅡ5678", "5678"),                      # the vowel ㅡ typed as a dash
    ("주민번호 850315—1234567", "1234567"),
    ("카드 4111/1111/1111/1111", "1111/1111/1111"),
    ("주민번호 ８５０３１５－１２３４５６７", "１２３４５６７"),  # full-width digits
    ("첨부 신분증_850315-1234567.jpg", "1234567"),           # a filename: after "_"
    ("card_4111111111111111.png", "1111111111"),
    ("id-850315-1234567.jpg", "1234567"),
    ("계좌 110_123_456789", "456789"),
    ("환불 받을 계좌번호 12345678 입니다", "12345678"),        # 8 digits after an account word
    ("ｈｏｎｇ＠ｎａｖｅｒ．ｃｏｍ", "ｏｎｇ"),
    ("카드 4111·1111·1111·1111 분실했어요", "1111·1111·1111"),   # middle dots, as in lists
    ("주민번호 850315ㆍ1234567", "1234567"),                   # ㆍ, the Korean keyboard's middle dot
    ("계좌 110·123·456789로 환불", "456789"),
    ("연락처 010−1234−5678", "5678"),                          # a word processor's minus sign
    ("연락처 010∼1234∼5678", "5678"),                          # the IME's tilde
    ("연락처 010 ㆍ 1234 ㆍ 5678", "5678"),
])
def test_numbers_written_with_other_separators_are_masked(text, leaked):
    assert leaked not in mask_text(text)


@pytest.mark.parametrize("text,leaked", [
    ("연락처\u00a0010\u00a01234\u00a05678", "5678"),               # an e-mail editor's no-break spaces
    ("주민번호\u00a0900101\u00a01234567", "1234567"),
    ("카드번호\u00a04111\u00a01111\u00a01111\u00a01111", "1111 1111 1111"),
    ("０１０\u3000１２３４\u3000５６７８", "５６７８"),                # typed in full-width mode
    ("전화번호\t010\t1234\t5678", "5678"),
    ("카드번호 4111 - 1111 - 1111 - 1111", "1111 - 1111 - 1111"),  # spaced separators
    ("카드번호 4111  1111  1111  1111", "1111  1111  1111"),
    ("계좌 110 - 123 - 456789", "456789"),
    ("전화번호 010  1234  5678", "5678"),
    ("연락처 010-1234-5678/02-123-4567", "5678"),                  # two numbers joined by a slash
    ("연락처 010-1234-5678/02-123-4567", "4567"),
    ("휴대폰 01012345678/01098765432", "5432"),
    ("휴대폰 01012345678~01098765432", "5678"),
    ("분실 카드 4111-1111-1111-1111/12-28", "1111-1111-1111"),     # a card and its expiry date
    ("계좌 110-123-456789/110-987-654321", "654321"),
    ("카드번호 4111-1111-1111-1111-123", "1111-1111-1111"),        # a card and its CVC
])
def test_numbers_with_loose_spaces_or_next_to_another_number_are_masked(text, leaked):
    assert leaked not in mask_text(text)
    assert leaked not in mask_speech(text)


@pytest.mark.parametrize("text,visible", [
    ("기업은행 계좌 360-759838-67-565", "360-759838"),  # passes the card check by chance: an account still
    ("카카오뱅크 계좌번호 3333-51-4939257", "4939"),
    ("환불 받을 계좌 37964596586168", "379645"),  # 14 digits unspaced: no card has that size
    ("계좌번호: 국민은행 812302-01-123457", "812302"),  # a bank's 6-2-6 is no card's grouping
    ("국민은행 812302-01-123457로 환불해 주세요", "812302"),
    ("국민은행 81230201123457로 환불", "812302"),  # unspaced, after the bank's name
])
def test_an_account_that_passes_the_card_check_is_masked_as_an_account(text, visible):
    assert visible not in mask_text(text)
    assert mask_text(text).endswith(text[-3:])  # an account keeps its last 3 digits, as every account does


@pytest.mark.parametrize("text", ["체크카드 9422 2323 3390 2849 도난당했어요", "카드번호 9369 0060 2677 3542 정지해 주세요"])
def test_a_card_is_masked_as_a_card_though_its_middle_looks_like_a_phone(text):
    """The middle groups (2323 3390) read as a Seoul number once; the card kept 12 of its 16 digits."""
    assert [s.kind for s in find_pii(text)] == ["card"]
    assert mask_text(text).count("*") == 6  # only a card's first 6 and last 4 digits stay


def test_identifiers_made_of_digit_groups_survive_masking():
    """A case id in a dead letter's reason once came out as ********-***1-45ba-…"""
    for text in ("unprocessable: no case 18362756-9421-45ba-b901-c77ce07bfa2c for card",
                 "VOC-2026-000123 처리 완료", "VOC-2027-1234567 건 다시 문의합니다", "event 01234567-8901-2345-6789-012345678901 retried",
                 "sha 3fa81234567890abc"):
        assert mask_text(text) == text, text
        assert mask_speech(text) == text, text


def test_masking_never_makes_text_longer():
    for text in ("a@b.co", "ab@b.co", "주민 9001012345678", "hong.gildong@naver.com 010-1234-5678"):
        assert len(mask_text(text)) <= len(text), text


@pytest.mark.parametrize("segment,leaked", [
    ("제 주민번호는 850315", "850315"),            # a number cut where the speaker paused
    ("다시 1234567 이고요", "1234567"),
    ("카드번호는 4111 1111", "4111 1111"),
    ("1111 1111 입니다", "1111 1111"),
    ("주민번호 팔오공삼일오 일이삼사오육칠", "일이삼사오육칠"),  # digits said, not written
    ("공일공 이삼사오", "이삼사오"),
    ("육칠팔구", "육칠팔구"),
    ("제 번호는 공일공에 일이삼사에 오육칠팔이에요", "일이삼사"),  # the hyphen read aloud as 에
    ("카드번호는 사일일일에 일일일일에 일일일일에 일일일일이요", "일일일일에 일일일일"),
    ("연락처 010에 1234에 5678이요", "1234"),
    ("공일공 다시 일이삼사 다시 오육칠팔", "오육칠팔"),
])
def test_speech_masks_numbers_said_or_cut_across_segments(segment, leaked):
    assert leaked not in mask_speech(segment)


def test_speech_keeps_amounts_dates_words_and_codes():
    for text in ("1500000원 결제됐어요", "150만 원이요", "2024년 3월 15일에요", "네 이사 때문에 일이 많아서요",
                 "콜센터 1588-1234 로 했는데", "VOC-2026-000123 건이요", "삼 일 전에", "네 이사에 오일 걸렸어요",
                 "3만원에 5만원에 총 8만원이요", "오후 2시에 10분에 전화했는데요", "이천이십사년에 이월에 가입"):
        assert mask_speech(text) == text, text


def test_dead_letter_payloads_are_masked_and_unchanged_without_personal_data():
    escaped = json.dumps({"call_id": "c1", "text": "번호는010-1234-5678이고 주민 850315-1234567",
                          "customer": "홍길동 010-9999-8888"}).encode()  # \uXXXX escapes, as json.dumps writes
    masked = mask_payload(escaped).decode()
    assert "5678" not in masked and "1234567" not in masked and "8888" not in masked and "홍길동" not in masked
    assert json.loads(masked)["call_id"] == "c1"
    broken = escaped[:-5]  # not JSON any more: read as text, escapes first
    assert "1234567" not in mask_payload(broken).decode()
    clean = b'{"case_id": "nope"}'
    assert mask_payload(clean) is clean


@pytest.mark.parametrize("ref,masked", [
    ("홍길동 010-1234-5678", "홍*동 010-1234-****"),
    ("홍길동고객님", "홍*동고객님"),  # a title written onto the name: the name was left whole before
    ("이순신님 VIP", "이*신님 V*P"),  # any Latin word: a reference is masked rather than guessed at
    ("남궁민수 고객", "남**수 고객"),
    ("김 고객님", "김 고객님"),  # a surname alone identifies no one
    ("Hong Gildong", "H**g G*****g"),  # Latin letters were left whole before
    ("KIM MINJI (카드회원)", "K*M M***I (카**원)"),
    ("gildong@example.co.kr", "g***@example.co.kr"),  # the address is mask_text's; its domain stays
    ("CUST-20261124", "C**T-2026****"),  # a Latin word before a hyphen may be a name: masked too
    ("Hong Gildong.", "H**g G*****g."),  # punctuation after a Latin name does not keep it whole
    ("'Hong Gildong'", "'H**g G*****g'"),
    ("Gildong고객님", "G*****g고객님"),
    ("Hong Gildong-010-1234-5678", "H**g G*****g-010-1234-****"),
    ("박귀하", "박*하"),  # a name ending in a title's syllables is a name (not 박 + 귀하)
    ("g.hong@bank.co.kr 홍길동", "g***@bank.co.kr 홍*동"),
])
def test_a_customer_reference_masks_names_however_they_are_written(ref, masked):
    assert mask_customer_ref(ref) == masked
