"""The one pagination of the management API's lists: `?page=N`, N a whole number from 1 to the last page.

Anything else is a 400 naming `page`, a page past the last one included (DRF would answer 404 "Invalid
page." to both, which reads as if the list itself were missing). Page 1 of an empty list is an empty page.
"""

import re

from rest_framework import pagination
from rest_framework.exceptions import ValidationError

_WHOLE_NUMBER = re.compile(r"[1-9][0-9]*")  # not \d: that also matches other scripts' digits and "²"
PAGE_RULE = "A whole number from 1 to the number of pages; anything else is a 400."


class PageNumberPagination(pagination.PageNumberPagination):
    last_page_strings = ()

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        page_size = self.get_page_size(request)
        if not page_size:
            return None
        paginator = self.django_paginator_class(queryset, page_size)
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            number = 1
        elif not _WHOLE_NUMBER.fullmatch(raw):
            raise ValidationError({self.page_query_param: ["Must be a whole number, 1 or more."]})
        else:
            # Past any count there can be: no need to convert thousands of digits to know that.
            number = int(raw) if len(raw) <= 18 else None
        pages = max(paginator.num_pages, 1)
        if number is None or number > pages:
            there = "There is 1 page" if pages == 1 else f"There are {pages} pages"
            raise ValidationError(
                {self.page_query_param: [f"{there} of {page_size} items at most; page {raw} is past the last."]}
            )
        self.page = paginator.page(number)
        return list(self.page)

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": f"Page number (default 1). {PAGE_RULE}",
                "schema": {"type": "integer", "minimum": 1},
            }
        ]
