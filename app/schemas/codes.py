"""Code decoding contract: the segments of an implementation code (实施编码) and its problems."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CodePartsRead(BaseModel):
    """The segments of a code of the right length, as printed (even when some are invalid)."""

    credit_code: str = Field(
        description="统一社会信用代码 of the exercising body (chars 1–18)",
        examples=["11620621MB17655583"],
    )
    level: str = Field(description="行使层级 (char 19): 1–7", examples=["4"])
    region: str = Field(
        description="区划码 (chars 20–21): 00 = national catalogue, else the adding province",
        examples=["62"],
    )
    type: str = Field(description="事项类型 (chars 22–23): the power type code", examples=["02"])
    department: str = Field(description="中央指导部门 (chars 24–25)", examples=["36"])
    main: str = Field(description="主项顺序码 (chars 26–28)", examples=["001"])
    sub: str = Field(
        description="子项码 (chars 29–31): 000 no sub-items, 00Y has sub-items, 001–999 sub-item",
        examples=["000"],
    )
    handling: str | None = Field(
        description="业务办理项编码 (chars 32–33) of the 33-character form, else null",
        examples=[None],
    )


class CodeLabelsRead(BaseModel):
    """Chinese names of the segments that have one; null where the segment is not valid."""

    level: str | None = Field(description="行使层级名称", examples=["县级"])
    type: str | None = Field(description="权力类型名称", examples=["行政处罚"])
    region: str | None = Field(description="区划码的含义", examples=["省级增设事项（62）"])
    sub: str | None = Field(description="子项码的含义", examples=["无子项"])


class CodeProblemRead(BaseModel):
    """One reason the code is invalid."""

    code: str = Field(description="stable problem code", examples=["code.check_digit"])
    message: str = Field(description="说明（中文）")
    position: int | None = Field(description="1-based position in the normalised code")


class CodeDecodeRead(BaseModel):
    """A decoded code: whether it is valid, its segments and every problem found."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "valid": True,
                    "normalized": "11620621MB176555834621036001000",
                    "parts": {
                        "credit_code": "11620621MB17655583",
                        "level": "4",
                        "region": "62",
                        "type": "10",
                        "department": "36",
                        "main": "001",
                        "sub": "000",
                        "handling": None,
                    },
                    "labels": {
                        "level": "县级",
                        "type": "其他行政权力",
                        "region": "省级增设事项（62）",
                        "sub": "无子项",
                    },
                    "problems": [],
                }
            ]
        }
    )

    valid: bool
    normalized: str = Field(
        description="the code after normalising: half-width, no spaces, upper case",
        examples=["11620621MB176555834620236001000"],
    )
    parts: CodePartsRead | None = Field(description="null when the length is wrong")
    labels: CodeLabelsRead | None = Field(description="null when the length is wrong")
    problems: list[CodeProblemRead]
