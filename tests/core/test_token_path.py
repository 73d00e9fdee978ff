"""core.signing.token_path: the path reverse() gives for a signed token, without reversing."""

import pytest
from django.urls import reverse

from aftersale.core.signing import sign_link, token_path


@pytest.mark.parametrize("route", ["tracking:page", "messaging:click", "feedback:score"])
def test_the_same_path_as_reverse(route):
    for data in ({"o": "ord_01"}, {"m": "msg_01", "u": "https://shop.example.com/" + "a/" * 60}):
        token = sign_link("aftersale.test", data)
        assert token_path(route, token) == reverse(route, args=[token])
