"""The answers, in a real database through SQLAlchemy: SQLite in WAL mode by default, any SQLAlchemy URL otherwise.

One table of trials: a row is created when a trial is shown and its answer is written into it in
the same row, each in its own committed transaction before the server replies, so a kill -9
loses no answer the page saw acknowledged and each participant resumes at their first
unanswered trial. (participant, index) is unique: two concurrent requests for one participant
cannot make two trials of one index, and a re-sent answer (a retry after a dropped reply) finds
its trial answered and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from vcbench.errors import ConfigError

PARTICIPANT_CODE = re.compile(r"[A-Za-z0-9_-]{1,40}")  # a name or code, nothing more
CHOICES = ("left", "right", "same")
KINDS = ("training", "trial", "repeat")


class Base(DeclarativeBase):
    pass


class Participant(Base):
    __tablename__ = "participants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Trial(Base):
    __tablename__ = "trials"
    __table_args__ = (UniqueConstraint("participant_id", "index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    index: Mapped[int] = mapped_column(Integer)  # 0-based position in the participant's session
    kind: Mapped[str] = mapped_column(String(10))  # training | trial | repeat
    left: Mapped[str] = mapped_column(String(300))  # condition ids
    right: Mapped[str] = mapped_column(String(300))
    repeat_of: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the index this one repeats
    shown_at: Mapped[dt.datetime] = mapped_column(DateTime)
    choice: Mapped[str | None] = mapped_column(String(5), nullable=True)  # left | right | same; None: not answered yet
    response_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


@dataclass(frozen=True)
class TrialView:
    """A trial as plain values (safe to use after its session closed)."""

    participant: str
    index: int
    kind: str
    left: str
    right: str
    repeat_of: int | None
    choice: str | None
    response_ms: float | None
    answered_at: str | None

    @property
    def winner(self) -> str | None:
        return {"left": self.left, "right": self.right}.get(self.choice or "")


def _view(code: str, trial: Trial) -> TrialView:
    return TrialView(code, trial.index, trial.kind, trial.left, trial.right, trial.repeat_of, trial.choice, trial.response_ms,
                     trial.answered_at.isoformat() if trial.answered_at else None)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class AnswerConflict(Exception):
    """An answer to a trial that is not the participant's, or that was answered differently before."""


def check_code(code: str) -> str:
    if not PARTICIPANT_CODE.fullmatch(code or ""):
        raise ValueError("a participant code is 1 to 40 letters, digits, '-' or '_' (no personal data)")
    return code


class Store:
    """The study's database."""

    def __init__(self, url: str):
        try:
            self.engine = create_engine(url, **self._engine_options(url))
            # SQLite: writes take the lock up front (BEGIN IMMEDIATE: a writer waits for it instead of failing when
            # a read transaction upgrades), reads do not (WAL readers never block the writer)
            self._reader = create_engine(url, **self._engine_options(url)) if self.engine.dialect.name == "sqlite" else self.engine
        except Exception as err:  # noqa: BLE001 - SQLAlchemy raises several kinds for a bad URL
            raise ConfigError(f"--db {url!r}: not a usable SQLAlchemy URL ({err}); e.g. sqlite:///studies/x/answers.sqlite") from None
        if self.engine.dialect.name == "sqlite":
            for engine, begin in ((self.engine, "BEGIN IMMEDIATE"), (self._reader, "BEGIN")):
                event.listen(engine, "connect", _sqlite_pragmas)
                event.listen(engine, "begin", lambda conn, begin=begin: conn.exec_driver_sql(begin))
        Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self._reader, expire_on_commit=False)

    @staticmethod
    def _engine_options(url: str) -> dict:
        if url.startswith("sqlite"):
            # Python's sqlite3 opens its own transactions lazily; SQLAlchemy's "begin" event takes over
            # (BEGIN IMMEDIATE: a writer waits for the lock up front instead of failing on upgrade).
            return {"connect_args": {"timeout": 30, "check_same_thread": False, "isolation_level": None}}
        return {"pool_pre_ping": True}

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction, committed when the block ends."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only transaction: one consistent snapshot."""
        with self._read_sessions() as session, session.begin():
            yield session

    def participant(self, code: str) -> int:
        """The id of participant ``code``, created on first use (a returning participant resumes)."""
        check_code(code)
        for _ in range(2):  # a concurrent first request for the same code may win the insert
            try:
                with self.transaction() as session:
                    found = session.scalar(select(Participant.id).where(Participant.code == code))
                    if found is not None:
                        return found
                    row = Participant(code=code, created_at=_now())
                    session.add(row)
                    session.flush()
                    return row.id
            except IntegrityError:
                continue
        raise RuntimeError(f"participant {code!r} could not be created")

    def participant_codes(self) -> list[str]:
        with self.reading() as session:
            return list(session.scalars(select(Participant.code).order_by(Participant.code)))

    def trials(self, code: str) -> list[TrialView]:
        with self.reading() as session:
            rows = session.scalars(select(Trial).join(Participant).where(Participant.code == code).order_by(Trial.index))
            return [_view(code, row) for row in rows]

    def add_trial(self, code: str, index: int, kind: str, left: str, right: str, repeat_of: int | None = None) -> TrialView:
        """Trial ``index`` of ``code``; if another request made it first, that one (never two of one index)."""
        pid = self.participant(code)
        try:
            with self.transaction() as session:
                row = Trial(participant_id=pid, index=index, kind=kind, left=left, right=right, repeat_of=repeat_of, shown_at=_now())
                session.add(row)
                session.flush()
                return _view(code, row)
        except IntegrityError:
            with self.transaction() as session:
                return _view(code, session.scalars(select(Trial).where(Trial.participant_id == pid, Trial.index == index)).one())

    def answer(self, code: str, index: int, choice: str, response_ms: float | None) -> TrialView:
        """Record ``choice`` for trial ``index`` of ``code``, committed before this returns. The same answer
        again changes nothing (idempotent); a different one for an answered trial is a conflict."""
        if choice not in CHOICES:
            raise AnswerConflict(f"choice must be one of {', '.join(CHOICES)}")
        with self.transaction() as session:
            row = session.scalars(select(Trial).join(Participant).where(Participant.code == code, Trial.index == index)).one_or_none()
            if row is None:
                raise AnswerConflict(f"participant {code!r} has no trial {index}")
            if row.choice is None:
                row.choice, row.response_ms, row.answered_at = choice, response_ms, _now()
            elif row.choice != choice:
                raise AnswerConflict(f"trial {index} of {code!r} was already answered {row.choice!r}")
            return _view(code, row)

    def answered(self, kinds: tuple[str, ...] = KINDS) -> list[TrialView]:
        """Every answered trial of ``kinds``, in the order they were answered."""
        with self.reading() as session:
            rows = session.execute(select(Participant.code, Trial).join(Participant)
                                   .where(Trial.choice.is_not(None), Trial.kind.in_(kinds)).order_by(Trial.answered_at, Trial.id))
            return [_view(code, trial) for code, trial in rows]

    def tally(self, kinds: tuple[str, ...] = KINDS) -> list[tuple[str, str, str, int]]:
        """(left, right, choice, how many) over every answered trial of ``kinds``: what the pair sampler needs."""
        with self.reading() as session:
            rows = session.execute(select(Trial.left, Trial.right, Trial.choice, func.count(Trial.id))
                                   .where(Trial.choice.is_not(None), Trial.kind.in_(kinds))
                                   .group_by(Trial.left, Trial.right, Trial.choice))
            return [(left, right, choice, count) for left, right, choice, count in rows]

    def counts(self) -> dict[str, int]:
        with self.reading() as session:
            return {"participants": session.scalar(select(func.count(Participant.id))),
                    "shown": session.scalar(select(func.count(Trial.id))),
                    "answered": session.scalar(select(func.count(Trial.id)).where(Trial.choice.is_not(None)))}


def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer; concurrent participants
    cursor.execute("PRAGMA synchronous=FULL")  # a committed answer is on disk before the reply
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
