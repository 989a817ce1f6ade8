"""Thin views: parse with an input serializer, call one service or selector, render an output serializer."""

from __future__ import annotations

from typing import Any

from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_protect, ensure_csrf_cookie
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.accounts import selectors, services
from backend.accounts.models import ApiToken, ProjectRole, Team, User
from backend.annotation.services import project_create
from backend.common.errors import NotFound


def _user(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


class UserOut(serializers.ModelSerializer[User]):
    class Meta:
        model = User
        fields = ["id", "username", "first_name", "last_name", "display_color"]


class CsrfApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={204: None}, summary="Set the CSRF cookie for the browser app")
    @method_decorator(ensure_csrf_cookie)
    def get(self, request: Request) -> Response:
        return Response(status=status.HTTP_204_NO_CONTENT)


class LoginApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    class LoginIn(serializers.Serializer[Any]):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=256, trim_whitespace=False)

    @extend_schema(request=LoginIn, responses={200: UserOut})
    @method_decorator(csrf_protect)
    def post(self, request: Request) -> Response:
        data = self.LoginIn(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.session_login(request=request._request, **data.validated_data)
        return Response(UserOut(user).data)


class LogoutApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        services.session_logout(request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    @extend_schema(responses={200: UserOut})
    def get(self, request: Request) -> Response:
        return Response(UserOut(_user(request)).data)


class TokenOut(serializers.ModelSerializer[ApiToken]):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at"]


class TokenListCreateApi(APIView):
    class TokenCreateIn(serializers.Serializer[Any]):
        name = serializers.CharField(max_length=100)

    @extend_schema(responses={200: TokenOut(many=True)})
    def get(self, request: Request) -> Response:
        tokens = ApiToken.objects.filter(user=_user(request)).order_by("-id")
        return Response(TokenOut(tokens, many=True).data)

    @extend_schema(
        request=TokenCreateIn,
        responses={
            201: inline_serializer("TokenCreated", {"token": serializers.CharField(), "id": serializers.IntegerField()})
        },
    )
    def post(self, request: Request) -> Response:
        data = self.TokenCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        token, raw = services.api_token_create(user=_user(request), name=data.validated_data["name"])
        return Response({"id": token.pk, "token": raw}, status=status.HTTP_201_CREATED)


class TokenRevokeApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, token_id: int) -> Response:
        services.api_token_revoke(user=_user(request), token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TeamOut(serializers.ModelSerializer[Team]):
    class Meta:
        model = Team
        fields = ["id", "name", "created_at"]


class TeamListCreateApi(APIView):
    class TeamCreateIn(serializers.Serializer[Any]):
        name = serializers.CharField(max_length=120)

    @extend_schema(responses={200: TeamOut(many=True)})
    def get(self, request: Request) -> Response:
        return Response(TeamOut(_user(request).teams.order_by("name"), many=True).data)

    @extend_schema(request=TeamCreateIn, responses={201: TeamOut})
    def post(self, request: Request) -> Response:
        data = self.TeamCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        team = services.team_create(creator=_user(request), name=data.validated_data["name"])
        return Response(TeamOut(team).data, status=status.HTTP_201_CREATED)


class TeamMemberAddApi(APIView):
    class TeamMemberIn(serializers.Serializer[Any]):
        user_id = serializers.IntegerField()
        is_admin = serializers.BooleanField(default=False)

    @extend_schema(request=TeamMemberIn, responses={204: None})
    def post(self, request: Request, team_id: int) -> Response:
        data = self.TeamMemberIn(data=request.data)
        data.is_valid(raise_exception=True)
        team = Team.objects.filter(pk=team_id).first()
        member = User.objects.filter(pk=data.validated_data["user_id"], is_active=True).first()
        if team is None:
            raise NotFound("team_not_found", "No such team, or you do not administer it.")
        if member is None:
            raise NotFound("user_not_found", "No such user.")
        services.team_member_add(actor=_user(request), team=team, user=member, is_admin=data.validated_data["is_admin"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    slug = serializers.SlugField()
    name = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()


class ProjectListCreateApi(APIView):
    class ProjectCreateIn(serializers.Serializer[Any]):
        slug = serializers.RegexField(r"^[a-z0-9][a-z0-9-]{1,62}$")
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="", max_length=10000)

    @extend_schema(responses={200: ProjectOut(many=True)})
    def get(self, request: Request) -> Response:
        return Response(ProjectOut(selectors.projects_for_user(user=request.user), many=True).data)

    @extend_schema(request=ProjectCreateIn, responses={201: ProjectOut})
    def post(self, request: Request) -> Response:
        data = self.ProjectCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_create(creator=_user(request), **data.validated_data)
        return Response(ProjectOut(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    @extend_schema(responses={200: ProjectOut})
    def get(self, request: Request, slug: str) -> Response:
        project = selectors.project_get_for_user(slug=slug, user=request.user)
        return Response(ProjectOut(project).data)


class MemberOut(serializers.Serializer[Any]):
    user = UserOut()
    role = serializers.ChoiceField(choices=ProjectRole.choices)


class ProjectMemberListApi(APIView):
    @extend_schema(responses={200: MemberOut(many=True)})
    def get(self, request: Request, slug: str) -> Response:
        project = selectors.project_get_for_user(slug=slug, user=request.user)
        return Response(MemberOut(selectors.project_members(project=project), many=True).data)


class ProjectMemberApi(APIView):
    class MemberRoleIn(serializers.Serializer[Any]):
        role = serializers.ChoiceField(choices=ProjectRole.choices)

    def _target(self, request: Request, slug: str, user_id: int) -> tuple[Any, User]:
        project = selectors.project_get_for_user(slug=slug, user=request.user, roles=selectors.OWNER_ONLY)
        member = User.objects.filter(pk=user_id, is_active=True).first()
        if member is None:
            raise NotFound("user_not_found", "No such user.")
        return project, member

    @extend_schema(request=MemberRoleIn, responses={200: MemberOut})
    def put(self, request: Request, slug: str, user_id: int) -> Response:
        data = self.MemberRoleIn(data=request.data)
        data.is_valid(raise_exception=True)
        project, member = self._target(request, slug, user_id)
        membership = services.project_member_set(
            actor=_user(request), project=project, user=member, role=data.validated_data["role"]
        )
        return Response(MemberOut(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, user_id: int) -> Response:
        project, member = self._target(request, slug, user_id)
        services.project_member_remove(actor=_user(request), project=project, user=member)
        return Response(status=status.HTTP_204_NO_CONTENT)
