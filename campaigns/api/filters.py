import django_filters

from campaigns.models import Channel, DeliveryStatus, MessageDraft
from common.validation import BoundedDateFromToRangeFilter, StrictFilterSet


class MessageDraftFilter(StrictFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=MessageDraft.Status.choices)
    channel = django_filters.ChoiceFilter(choices=Channel.choices)
    delivery_status = django_filters.MultipleChoiceFilter(choices=DeliveryStatus.choices)
    # ?occasion_date_after=YYYY-MM-DD&occasion_date_before=YYYY-MM-DD (both inclusive)
    occasion_date = BoundedDateFromToRangeFilter()

    class Meta:
        model = MessageDraft
        fields = ["status", "delivery_status", "channel", "occasion", "occasion_date", "client", "job"]
