"""The study's web page and its JSON API (FastAPI, served by uvicorn).

Every handler is a plain function (FastAPI runs it in its thread pool), and an answer's reply is
sent only after its transaction committed (``Store.answer``). Which trial comes next is the
``Scheduler``'s; the page (``page.html``) only shows it and posts the choice.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from vcbench.study.folder import CLIPS, Study
from vcbench.study.schedule import Scheduler
from vcbench.study.store import CHOICES, AnswerConflict, Store, TrialView, check_code

PAGE = Path(__file__).with_name("page.html")


class SessionIn(BaseModel):
    participant: str


class AnswerIn(BaseModel):
    participant: str
    index: int = Field(ge=0)
    choice: str
    response_ms: float | None = Field(default=None, ge=0)


def create_app(study: Study, store: Store, seed: int | None = None) -> FastAPI:
    app = FastAPI(title=f"vcbench study {study.config.get('name', study.root.name)}", docs_url=None, redoc_url=None)
    scheduler = Scheduler(study, store, seed)
    plan = study.session
    page = PAGE.read_text(encoding="utf-8")

    def code_of(participant: str) -> str:
        try:
            return check_code(participant)
        except ValueError as err:
            raise HTTPException(422, str(err)) from None

    def progress(code: str) -> dict:
        answered = sum(t.choice is not None for t in store.trials(code))
        return {"participant": code, "answered": answered, "total": plan.total, "done": answered >= plan.total}

    def clip(condition_id: str) -> str:
        return "/" + study.by_id[condition_id].clip

    def shown(trial: TrialView) -> dict:
        reference = next(c for c in study.groups[study.by_id[trial.left].group] if c.is_reference)
        # a hidden repeat looks like any scored trial; only practice pairs are announced
        return {"index": trial.index, "practice": trial.kind == "training", "left": clip(trial.left), "right": clip(trial.right),
                "reference": clip(reference.id)}

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.get("/api/study")
    def about() -> dict:
        return {"name": study.config.get("name"), "training": plan.training, "total": plan.total,
                "clip_format": study.config.get("clip_format", {}).get("summary", "")}

    @app.post("/api/session")
    def session(body: SessionIn) -> dict:
        code = code_of(body.participant)
        store.participant(code)
        return progress(code)

    @app.get("/api/next")
    def next_trial(participant: str) -> dict:
        code = code_of(participant)
        trial = scheduler.next_trial(code)
        return {**progress(code), "trial": shown(trial) if trial is not None else None}

    @app.post("/api/answer")
    def answer(body: AnswerIn) -> dict:
        code = code_of(body.participant)
        if body.choice not in CHOICES:
            raise HTTPException(422, f"choice must be one of {', '.join(CHOICES)}")
        try:
            store.answer(code, body.index, body.choice, body.response_ms)
        except AnswerConflict as err:
            raise HTTPException(409, str(err)) from None
        return progress(code)

    @app.get("/api/status")
    def status() -> dict:
        return store.counts()

    app.mount(f"/{CLIPS}", StaticFiles(directory=study.root / CLIPS), name=CLIPS)
    return app
