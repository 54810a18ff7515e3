"""Check an NCCO through the SDK's own models, as Vonage's schema would."""

from vonage_voice.models import Conversation, Input, Record, Stream, Talk

MODELS = {
    "stream": Stream,
    "talk": Talk,
    "conversation": Conversation,
    "record": Record,
    "input": Input,
}


def assert_valid_ncco(ncco):
    """Every action parses as its SDK model and dumps back to exactly what was sent."""
    assert isinstance(ncco, list) and ncco, ncco
    for action in ncco:
        model = MODELS[action["action"]].model_validate(action)
        assert model.model_dump(mode="json", by_alias=True, exclude_none=True) == action
