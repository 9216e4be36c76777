from recipe_runner.secret_policy import find_secrets, is_secret_name, redact

ENV = {"WANDB_API_KEY": "sentinel-wandb-0123456789", "MY_TOKEN": "tok-abcdefgh", "SHORT_KEY": "1",
       "TOKENIZERS_PARALLELISM": "false-but-long", "HOME": "/root"}


def test_names():
    for name in ("WANDB_API_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "MY_CREDENTIALS_FILE",
                 "x_key", "S3_SECRET"):
        assert is_secret_name(name), name
    for name in ("TOKENIZERS_PARALLELISM", "HOME", "KEYBOARD", "NCCL_DEBUG"):
        assert not is_secret_name(name), name


def test_find_secrets_by_value_and_by_key():
    data = {"wandb": {"group": "g-sentinel-wandb-0123456789"}, "launch": {"env": {"HF_TOKEN": "x", "A": "1"}},
            "list": ["ok", "tok-abcdefgh"], "n": 1}
    found = sorted(find_secrets(data, ENV))
    assert found == [("launch.env.HF_TOKEN", "HF_TOKEN"), ("list[1]", "MY_TOKEN"),
                     ("wandb.group", "WANDB_API_KEY")]


def test_redact():
    out = redact({"a": "x sentinel-wandb-0123456789", "API_KEY": "v", "b": [1, "1"]}, ENV)
    assert out == {"a": "x <redacted:WANDB_API_KEY>", "b": [1, "1"]}
