/** Where GraphQLModule serves the sample's GraphQL endpoint (and GraphiQL, in a browser). */
export const GRAPHQL_PATH = '/graphql';
