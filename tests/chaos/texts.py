"""Realistic Korean VOCs for the chaos suite, in the five styles the channels send:
app-store reviews, chat with typos (and its transcript), phone STT transcripts,
formal e-mails and branch staff notes. Deterministic for a given seed."""

from __future__ import annotations

import random

# (topic words for the middle of a sentence, the problem, what the customer wants)
_ISSUES = [
    ("이체", "계좌이체 버튼을 눌러도 화면이 멈춰요", "빨리 고쳐 주세요"),
    ("로그인", "업데이트 후 로그인하면 앱이 계속 튕깁니다", "원인 확인 부탁드려요"),
    ("카드 결제", "카드 결제가 두 번 승인됐어요", "한 건 취소해 주세요"),
    ("연회비", "연회비가 이중으로 청구됐습니다", "환불 요청합니다"),
    ("대출", "대출 금리가 안내받은 것보다 높게 적용됐어요", "금리 재확인 부탁드립니다"),
    ("보험금", "보험금 청구 서류를 냈는데 2주째 소식이 없어요", "처리 상황 알려 주세요"),
    ("주식 주문", "주식 매도 주문이 체결이 안 되고 대기 상태예요", "손실 보상 요구합니다"),
    ("적금", "적금 자동이체 날짜를 바꾸고 싶은데 메뉴를 못 찾겠어요", "방법 알려 주세요"),
    ("지점 대기", "지점 대기 시간이 한 시간이 넘었어요", "인력 좀 늘려 주세요"),
    ("포인트", "카드 포인트 적립이 누락됐어요", "적립 처리해 주세요"),
    ("해외결제", "해외결제 수수료가 너무 많이 나왔어요", "내역 설명 부탁드립니다"),
    ("인증서", "공동인증서 재발급이 계속 실패해요", "해결 방법 알려 주세요"),
    ("알림", "입출금 알림 문자가 안 와요", "설정 확인 부탁드려요"),
    ("상담원 연결", "상담원 연결까지 30분이나 기다렸어요", "개선해 주세요"),
    ("앱 디자인", "새 앱 화면이 보기 편하고 좋아졌네요", "계속 이렇게 해 주세요"),
    ("카드 분실", "어제 지하철에서 카드를 잃어버렸어요", "바로 정지해 주세요"),
    ("보이스피싱", "검찰이라는 전화를 받고 돈을 보냈는데 사기 같아요", "지급정지 부탁드립니다"),
    # the consumer-protection office gets a copy of these (regulator, legal, media)
    ("불완전판매", "펀드 가입할 때 원금 손실 설명을 전혀 못 들었습니다", "해결 안 되면 금융감독원에 민원 넣겠습니다"),
    ("부당 수수료", "중도상환수수료를 부당하게 떼어 갔어요", "변호사와 상담해서 소송 진행하겠습니다"),
    ("채권추심", "추심 전화가 밤늦게까지 계속 옵니다", "언론사에 제보하겠습니다"),
]

_TYPO = {"안 돼요": "안되요", "됐어요": "됬어요", "왜": "왜케", "어떻게": "어케", "주세요": "주세여", "해요": "해여"}


def _typos(text: str, rng: random.Random) -> str:
    for right, wrong in _TYPO.items():
        if right in text and rng.random() < 0.6:
            text = text.replace(right, wrong)
    return text


def app_review(rng: random.Random, n: int) -> dict:
    topic, problem, want = rng.choice(_ISSUES)
    stars = rng.choice(["별점 1점", "★☆☆☆☆", "별 하나도 아까움", "평점 5점 드려요"])
    return {"channel": "app", "text": f"{problem}. {want}. {stars} (리뷰 {n})"}


def chat(rng: random.Random, n: int) -> dict:
    topic, problem, want = rng.choice(_ISSUES)
    last = _typos(f"{problem} ㅠㅠ 왜 {topic} 안 돼요? {want}", rng)
    return {"channel": "chat", "text": last, "transcript": [
        {"speaker": "bot", "text": "안녕하세요, 무엇을 도와드릴까요?"},
        {"speaker": "customer", "text": _typos(f"{topic} 문의요 ㅠ 급해요 {n}", rng)},
        {"speaker": "bot", "text": "상담원에게 연결해 드리겠습니다."},
        {"speaker": "customer", "text": last}]}


def stt(rng: random.Random, n: int) -> dict:
    topic, problem, want = rng.choice(_ISSUES)
    fillers = rng.sample(["아", "어", "음", "그", "저기", "네네"], 3)
    return {"channel": "phone", "text": f"{fillers[0]} 네 {fillers[1]} 그 {topic} 때문에 전화드렸는데요 "
                                        f"{fillers[2]} {problem} 그래서 {want} 통화번호 {n}"}


def email(rng: random.Random, n: int) -> dict:
    topic, problem, want = rng.choice(_ISSUES)
    return {"channel": "email", "title": f"[민원] {topic} 관련 문의 드립니다",
            "text": f"안녕하십니까. 귀사를 오랫동안 이용해 온 고객입니다. {problem}. "
                    f"관련 내용을 확인하시어 {want}. 회신 기다리겠습니다. 감사합니다. (문서번호 {n})"}


def branch(rng: random.Random, n: int) -> dict:
    topic, problem, want = rng.choice(_ISSUES)
    return {"channel": "branch", "staff_id": f"br-{rng.randint(100, 999)}",
            "text": f"고객 내점. {topic} 건으로 상담. 고객 진술: {problem}. 요청사항: {want}. "
                    f"안내했으나 불만 표시함. 메모 {n}"}


STYLES = (app_review, chat, stt, email, branch)


def voc_bodies(count: int, seed: int = 8) -> list[dict]:
    """`count` VOC request bodies, the five styles mixed."""
    rng = random.Random(seed)
    return [rng.choice(STYLES)(rng, i) for i in range(count)]
