"""Shared parameter docs, written once: every attack documents every parameter."""

import ast
import inspect
import re

import pytest
from numpydoc.docscrape import NumpyDocString

import skrobust.attacks
from skrobust.utils import ATTACK_DOCS, Substitution

ATTACKS = [getattr(skrobust.attacks, name) for name in skrobust.attacks.__all__]


@pytest.mark.parametrize("cls", ATTACKS, ids=lambda c: c.__name__)
def test_every_parameter_documented_once_with_its_default(cls):
    doc = NumpyDocString(inspect.getdoc(cls))
    documented = [name for p in doc["Parameters"] for name in p.name.split(", ")]
    signature = inspect.signature(cls).parameters
    assert documented == list(signature)  # all of them, once, in order
    for p in doc["Parameters"]:
        default = signature[p.name.split(", ")[0]].default
        written = re.search(r"default=(.+)$", p.type)
        assert (default is inspect.Parameter.empty) == (written is None), p.name
        if written:
            assert ast.literal_eval(written.group(1)) == default, p.name
    assert [a.name for a in doc["Attributes"]][:2] == ["estimator_", "n_features_in_"]
    assert not re.search(r"^\s*\{\w+\}\s*$", cls.__doc__, re.MULTILINE)
    assert "as for :class:" not in cls.__doc__.lower()


def test_one_name_and_default_per_notion():
    for cls in ATTACKS:
        params = inspect.signature(cls).parameters
        assert params["batch_size"].default == "auto", cls.__name__
        assert "targeted" not in params  # targets: n_target_classes or target=
        if "n_target_classes" in params and cls is not skrobust.attacks.AutoAttack:
            assert params["n_target_classes"].default is None, cls.__name__


def test_substitution_fills_placeholders_at_their_indentation():
    @Substitution(text="a : int\n    Line one.\n\n    Line two.", other="b : str")
    class A:
        """Title {not_a_placeholder} {"linf"}.

        Parameters
        ----------
        {text}
        {other}
        """

    lines = inspect.cleandoc(A.__doc__).splitlines()
    assert lines[0] == 'Title {not_a_placeholder} {"linf"}.'
    assert lines[4:9] == ["a : int", "    Line one.", "", "    Line two.", "b : str"]

    with pytest.raises(KeyError, match="missing"):

        @Substitution(**ATTACK_DOCS)
        def f():
            """Doc.

            {missing}
            """
